"""Cache keys (contract 4.4): a node's key covers its class, IS_CHANGED value, constants and, through
its links, the keys of all its ancestors.

Keys are hash-consed: the key of a node is the interned object for the tuple (class, is_changed,
id-if-node-specific, sorted inputs with links replaced by the ancestors' interned keys). Equal
structures give the very same key object, so a lookup costs one dict probe and keys of a 500-node
chain are built in linear time. Values that cannot be hashed (tensors, arbitrary objects) and NaN
IS_CHANGED results make a key unequal to every key of any later prompt, forcing re-execution.
Compared with ComfyUI's ancestor-list signature the only difference is that two distinct but
identical upstream nodes count as one shared node (their outputs are interchangeable anyway).
Torch-free.
"""

from __future__ import annotations

import weakref
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

from comfy_core.graph.links import is_link
from comfy_core.graph.prompt import DynamicPrompt


class Unhashable:
    """Stands for a value with no stable identity: equal only to itself."""

    __slots__ = ("__weakref__",)

    def __repr__(self) -> str:
        return "<unhashable>"


def to_hashable(obj: Any) -> Any:
    """Hashable, equality-preserving form of a JSON-ish value; anything else becomes `Unhashable()`."""
    if isinstance(obj, float) and obj != obj:
        return Unhashable()  # NaN: never equal to a later prompt's value, whatever object it is
    if obj is None or isinstance(obj, (int, float, str, bool, bytes)):
        return obj
    if isinstance(obj, Mapping):
        return frozenset((to_hashable(k), to_hashable(v)) for k, v in obj.items())
    if isinstance(obj, Sequence):
        return tuple(to_hashable(i) for i in obj)
    return Unhashable()


class Key:
    """An interned cache key; identity is equality."""

    __slots__ = ("class_type", "__weakref__")

    def __init__(self, class_type: str) -> None:
        self.class_type = class_type

    def __repr__(self) -> str:
        return f"<Key {self.class_type} {id(self):#x}>"


class KeyInterner:
    """Maps key structures to their unique Key; entries die with their keys (weak values)."""

    def __init__(self) -> None:
        self._table: weakref.WeakValueDictionary = weakref.WeakValueDictionary()

    def intern(self, struct: tuple) -> Key:
        key = self._table.get(struct)
        if key is None:
            key = Key(struct[0])
            self._table[struct] = key
        return key

    def __len__(self) -> int:
        return len(self._table)


class SignatureBuilder:
    """Computes (and memoises for one prompt) the interned key of each node of a DynamicPrompt.

    `is_changed(node_id)` is awaited once per node; `include_node_id(class_type)` says whether the
    node's id is part of its key (NOT_IDEMPOTENT, or V1 hidden UNIQUE_ID).
    """

    def __init__(
        self,
        dynprompt: DynamicPrompt,
        interner: KeyInterner,
        is_changed: Callable[[str], Awaitable[Any]],
        include_node_id: Callable[[str], bool],
    ) -> None:
        self.dynprompt = dynprompt
        self.interner = interner
        self._is_changed = is_changed
        self._include_node_id = include_node_id
        self.memo: dict[str, Key] = {}

    def _sources(self, node_id: str) -> list[str]:
        inputs = self.dynprompt.get_node(node_id)["inputs"]
        return [inputs[k][0] for k in sorted(inputs) if is_link(inputs[k])]

    def _post_order(self, roots: Iterable[str]) -> list[str]:
        order: list[str] = []
        seen: set[str] = set()
        for root in roots:
            if root in self.memo or root in seen or not self.dynprompt.has_node(root):
                continue
            seen.add(root)
            stack = [(root, iter(self._sources(root)))]
            while stack:
                node_id, it = stack[-1]
                for src in it:
                    if src not in self.memo and src not in seen and self.dynprompt.has_node(src):
                        seen.add(src)
                        stack.append((src, iter(self._sources(src))))
                        break
                else:
                    stack.pop()
                    order.append(node_id)
        return order

    async def keys_for(self, node_ids: Iterable[str]) -> dict[str, Key]:
        node_ids = list(node_ids)
        order = self._post_order(node_ids)
        changed = {node_id: await self._is_changed(node_id) for node_id in order}
        for node_id in order:
            self.memo[node_id] = self._build(node_id, changed[node_id])
        return {n: self.memo[n] for n in node_ids if n in self.memo}

    def _build(self, node_id: str, is_changed: Any) -> Key:
        node = self.dynprompt.get_node(node_id)
        class_type = node["class_type"]
        inputs = node["inputs"]
        parts: list[Any] = [class_type, to_hashable(is_changed)]
        parts.append(node_id if self._include_node_id(class_type) else None)
        for name in sorted(inputs):
            value = inputs[name]
            if is_link(value):
                # missing ancestors and back edges of a dynamic cycle can never be reused
                ancestor = self.memo.get(value[0]) or Unhashable()
                parts.append((name, 1, ancestor, value[1]))
            else:
                parts.append((name, 0, to_hashable(value)))
        return self.interner.intern(tuple(parts))


class KeySet:
    """The keys one cache uses for a set of node ids of the current prompt."""

    def __init__(self) -> None:
        self.keys: dict[str, Any] = {}
        self.subcache_keys: dict[str, tuple[str, str]] = {}

    async def add_keys(self, node_ids: Iterable[str]) -> None:
        raise NotImplementedError

    def all_node_ids(self) -> set[str]:
        return set(self.keys)

    def get_used_keys(self) -> Iterable[Any]:
        return self.keys.values()

    def get_used_subcache_keys(self) -> Iterable[tuple[str, str]]:
        return self.subcache_keys.values()

    def get_data_key(self, node_id: str) -> Any:
        return self.keys.get(node_id)

    def get_subcache_key(self, node_id: str) -> tuple[str, str] | None:
        return self.subcache_keys.get(node_id)


class IdKeySet(KeySet):
    """Keys = (node id, class_type): the object (instance) cache."""

    def __init__(self, dynprompt: DynamicPrompt) -> None:
        super().__init__()
        self.dynprompt = dynprompt

    async def add_keys(self, node_ids: Iterable[str]) -> None:
        for node_id in node_ids:
            if node_id in self.keys or not self.dynprompt.has_node(node_id):
                continue
            key = (node_id, self.dynprompt.get_node(node_id)["class_type"])
            self.keys[node_id] = key
            self.subcache_keys[node_id] = key


class SignatureKeySet(KeySet):
    """Keys = input signatures: the output cache."""

    def __init__(self, dynprompt: DynamicPrompt, builder: SignatureBuilder) -> None:
        super().__init__()
        self.dynprompt = dynprompt
        self.builder = builder

    async def add_keys(self, node_ids: Iterable[str]) -> None:
        todo = [n for n in node_ids if n not in self.keys and self.dynprompt.has_node(n)]
        if not todo:
            return
        keys = await self.builder.keys_for(todo)
        for node_id in todo:
            self.keys[node_id] = keys[node_id]
            self.subcache_keys[node_id] = (node_id, self.dynprompt.get_node(node_id)["class_type"])
