"""The live prompt: the submitted API graph plus ephemeral nodes added by expansions. Torch-free."""

from __future__ import annotations

from typing import Any


class DependencyCycleError(Exception):
    pass


class NodeInputError(Exception):
    pass


class NodeNotFoundError(Exception):
    pass


class DuplicateNodeError(Exception):
    pass


class DynamicPrompt:
    """Original prompt + expansion fragments; each fragment node records its parent and display id."""

    def __init__(self, original_prompt: dict[str, dict[str, Any]]) -> None:
        self.original_prompt = original_prompt
        self.ephemeral_prompt: dict[str, dict[str, Any]] = {}
        self.ephemeral_parents: dict[str, str] = {}
        self.ephemeral_display: dict[str, str] = {}

    def get_node(self, node_id: str) -> dict[str, Any]:
        node = self.ephemeral_prompt.get(node_id)
        if node is None:
            node = self.original_prompt.get(node_id)
        if node is None:
            raise NodeNotFoundError(f"Node {node_id} not found")
        return node

    def has_node(self, node_id: str) -> bool:
        return node_id in self.original_prompt or node_id in self.ephemeral_prompt

    def add_ephemeral_node(
        self, node_id: str, node_info: dict[str, Any], parent_id: str, display_id: str
    ) -> None:
        self.ephemeral_prompt[node_id] = node_info
        self.ephemeral_parents[node_id] = parent_id
        self.ephemeral_display[node_id] = display_id

    def get_real_node_id(self, node_id: str) -> str:
        while node_id in self.ephemeral_parents:
            node_id = self.ephemeral_parents[node_id]
        return node_id

    def get_parent_node_id(self, node_id: str) -> str | None:
        return self.ephemeral_parents.get(node_id)

    def get_display_node_id(self, node_id: str) -> str:
        while node_id in self.ephemeral_display:
            node_id = self.ephemeral_display[node_id]
        return node_id

    def all_node_ids(self) -> set[str]:
        return set(self.original_prompt).union(self.ephemeral_prompt)

    def get_original_prompt(self) -> dict[str, dict[str, Any]]:
        return self.original_prompt


def get_input_info(
    class_def: type, input_name: str, valid_inputs: dict[str, Any] | None = None
) -> tuple[Any, str | None, dict[str, Any] | None]:
    """(type, category, options) of one declared input, or (None, None, None) when undeclared."""
    valid_inputs = valid_inputs or class_def.INPUT_TYPES()
    for category in ("required", "optional", "hidden"):
        section = valid_inputs.get(category)
        if section and input_name in section:
            info = section[input_name]
            if isinstance(info, (list, tuple)):
                extra = info[1] if len(info) > 1 else {}
                return info[0], category, extra if extra is not None else {}
            # V1 hidden entries are bare kind strings
            return info, category, {}
    return None, None, None
