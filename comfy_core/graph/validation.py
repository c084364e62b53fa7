"""Prompt validation (contract section 3.3): error types, messages and shapes are an interface.

`validate_prompt` returns (valid, error, outputs_to_execute, node_errors) exactly like ComfyUI's.
Constants are cast and written back into the prompt; VALIDATE_INPUTS (sync or async) runs with list
mapping over constants (links arrive as None). Torch-free.
"""

from __future__ import annotations

import inspect
import logging
import sys
import traceback
from typing import Any

from comfy_core.graph.invoke import full_type_name, get_input_data, map_node_over_list, resolve_results
from comfy_core.graph.links import ExecutionBlocker
from comfy_core.graph.prompt import get_input_info
from comfy_core.registry.inputs import input_types, is_v3

log = logging.getLogger(__name__)

MATCHTYPE = "COMFY_MATCHTYPE_V3"
_CASTS = {"INT": int, "FLOAT": float, "STRING": str, "BOOLEAN": bool}


def validate_node_input(received_type: Any, input_type: Any, strict: bool = False) -> bool:
    """Can an output of `received_type` feed an input of `input_type`?

    Equality is decided by `!=` so type objects overriding `__ne__` keep working; `*` and the V3
    match-type accept anything; a list-valued output may feed a COMBO; otherwise comma-separated
    unions must overlap (strict: the received set must be a subset).
    """
    if not received_type != input_type:
        return True
    if received_type == MATCHTYPE or input_type == MATCHTYPE:
        return True
    if isinstance(received_type, list) and input_type == "COMBO":
        return True
    if not isinstance(received_type, str) or not isinstance(input_type, str):
        return False
    if received_type == "*" or input_type == "*":
        return True
    received = {t.strip() for t in received_type.split(",")}
    accepted = {t.strip() for t in input_type.split(",")}
    if strict:
        return received.issubset(accepted)
    return bool(received & accepted)


def _error(type_: str, message: str, details: str, **extra: Any) -> dict[str, Any]:
    return {"type": type_, "message": message, "details": details, "extra_info": extra}


def _validate_function(cls: type) -> tuple[Any, list[str], bool]:
    fn = getattr(cls, "VALIDATE_INPUTS", None)
    if fn is None:
        return None, [], False
    spec = inspect.getfullargspec(fn)
    return fn, list(spec.args), spec.varkw is not None


def _check_constant(
    name: str, val: Any, input_type: Any, extra: dict[str, Any], info: tuple
) -> dict[str, Any] | None:
    if "min" in extra and val < extra["min"]:
        return _error(
            "value_smaller_than_min", f"Value {val} smaller than min of {extra['min']}", name,
            input_name=name, input_config=info, received_value=val,
        )
    if "max" in extra and val > extra["max"]:
        return _error(
            "value_bigger_than_max", f"Value {val} bigger than max of {extra['max']}", name,
            input_name=name, input_config=info, received_value=val,
        )
    if isinstance(input_type, list) or input_type == "COMBO":
        options = input_type if isinstance(input_type, list) else extra.get("options", [])
        multiselect = extra.get("multiselect", extra.get("multi_select", False))
        if multiselect and isinstance(val, list):
            bad = [v for v in val if v not in options]
        else:
            bad = [] if val in options else [val]
        if bad:
            config: tuple | None = info
            if len(options) > 20:
                list_info = f"(list of length {len(options)})"
                config = None
            else:
                list_info = str(options)
            shown = bad[0] if len(bad) == 1 and not isinstance(val, list) else bad
            return _error(
                "value_not_in_list", "Value not in list", f"{name}: '{shown}' not in {list_info}",
                input_name=name, input_config=config, received_value=val,
            )
    return None


class _Validator:
    def __init__(self, registry: Any, prompt_id: str, prompt: dict[str, Any]) -> None:
        self.registry = registry
        self.prompt_id = prompt_id
        self.prompt = prompt
        self.validated: dict[str, tuple[bool, list, str]] = {}
        self.in_progress: set[str] = set()

    async def validate(self, unique_id: str) -> tuple[bool, list, str]:
        done = self.validated.get(unique_id)
        if done is not None:
            return done
        self.in_progress.add(unique_id)
        try:
            result = await self._validate(unique_id)
        finally:
            self.in_progress.discard(unique_id)
        self.validated[unique_id] = result
        return result

    async def _validate(self, unique_id: str) -> tuple[bool, list, str]:
        node = self.prompt[unique_id]
        inputs = node["inputs"]
        cls = self.registry.get(node["class_type"])
        class_inputs = input_types(cls, inputs)
        fn, fn_args, fn_kwargs = _validate_function(cls)
        errors: list[dict[str, Any]] = []
        valid = True
        received_types: dict[str, Any] = {}
        declared = list(class_inputs.get("required") or {}) + [
            n for n in (class_inputs.get("optional") or {}) if n not in (class_inputs.get("required") or {})
        ]
        for name in declared:
            input_type, category, extra = get_input_info(cls, name, class_inputs)
            extra = extra or {}
            if name not in inputs:
                if category == "required":
                    errors.append(_error("required_input_missing", "Required input is missing", name, input_name=name))
                continue
            val = inputs[name]
            info = (input_type, extra)
            if isinstance(val, list):
                if len(val) != 2:
                    errors.append(_error(
                        "bad_linked_input", "Bad linked input, must be a length-2 list of [node_id, slot_index]",
                        name, input_name=name, input_config=info, received_value=val,
                    ))
                    continue
                o_id = val[0]
                source_cls = self.registry.get(self.prompt[o_id]["class_type"])
                received_type = source_cls.RETURN_TYPES[val[1]]
                received_types[name] = received_type
                if "input_types" not in fn_args and not validate_node_input(received_type, input_type):
                    errors.append(_error(
                        "return_type_mismatch", "Return type mismatch between linked nodes",
                        f"{name}, received_type({received_type}) mismatch input_type({input_type})",
                        input_name=name, input_config=info, received_type=received_type, linked_node=val,
                    ))
                    continue
                if o_id in self.in_progress:
                    valid = False  # static dependency cycle: invalid, with no error entry of its own
                    continue
                try:
                    r = await self.validate(o_id)
                    if r[0] is False:
                        valid = False
                except Exception as ex:
                    typ, _, tb = sys.exc_info()
                    valid = False
                    self.validated[o_id] = (False, [_error(
                        "exception_during_inner_validation", "Exception when validating inner node", str(ex),
                        input_name=name, input_config=info, exception_message=str(ex),
                        exception_type=full_type_name(typ), traceback=traceback.format_tb(tb), linked_node=val,
                    )], o_id)
                continue
            try:
                if isinstance(val, dict) and "__value__" in val:
                    val = val["__value__"]
                    inputs[name] = val
                cast = _CASTS.get(input_type) if isinstance(input_type, str) else None
                if cast is not None:
                    val = cast(val)
                    inputs[name] = val
            except Exception as ex:
                errors.append(_error(
                    "invalid_input_type", f"Failed to convert an input value to a {input_type} value",
                    f"{name}, {val}, {ex}", input_name=name, input_config=info, received_value=val,
                    exception_message=str(ex),
                ))
                continue
            if name not in fn_args and not fn_kwargs:
                err = _check_constant(name, val, input_type, extra, info)
                if err is not None:
                    errors.append(err)

        if fn is not None and (fn_args or fn_kwargs):
            errors.extend(await self._custom_validation(unique_id, cls, inputs, class_inputs, fn_args, fn_kwargs, received_types))

        result = (False, errors, unique_id) if errors or valid is not True else (True, [], unique_id)
        return result

    async def _custom_validation(
        self, unique_id: str, cls: type, inputs: dict, class_inputs: dict, fn_args: list[str],
        fn_kwargs: bool, received_types: dict[str, Any],
    ) -> list[dict[str, Any]]:
        v3 = is_v3(cls)
        data, _, hidden = get_input_data(inputs, cls, unique_id, class_inputs, v3=v3)
        filtered = {k: v for k, v in data.items() if k in fn_args or fn_kwargs}
        if "input_types" in fn_args:
            filtered["input_types"] = [received_types]
        ret = await map_node_over_list(self.prompt_id, unique_id, cls, filtered, "VALIDATE_INPUTS", v3=v3, hidden=hidden)
        ret = await resolve_results(ret)
        errors = []
        for name in filtered:
            for r in ret:
                if r is not True and not isinstance(r, ExecutionBlocker):
                    details = name if r is False else f"{name} - {r}"
                    errors.append(_error("custom_validation_failed", "Custom validation failed for node", details, input_name=name))
        return errors


def _prompt_error(type_: str, message: str, details: str) -> dict[str, Any]:
    return {"type": type_, "message": message, "details": details, "extra_info": {}}


async def validate_prompt(
    registry: Any, prompt_id: str, prompt: dict, partial_execution_targets: list[str] | None
) -> tuple[bool, dict | None, list[str], dict]:
    """Validate an API-format prompt; returns (valid, error, outputs_to_execute, node_errors)."""
    outputs: list[str] = []
    for node_id, node in prompt.items():
        if "class_type" not in node:
            return False, _prompt_error(
                "invalid_prompt", "Cannot execute because a node is missing the class_type property.",
                f"Node ID '#{node_id}'",
            ), [], {}
        cls = registry.get(node["class_type"])
        if cls is None:
            return False, _prompt_error(
                "invalid_prompt", f"Cannot execute because node {node['class_type']} does not exist.",
                f"Node ID '#{node_id}'",
            ), [], {}
        if getattr(cls, "OUTPUT_NODE", False) is True:
            if partial_execution_targets is None or node_id in partial_execution_targets:
                outputs.append(node_id)
    if not outputs:
        return False, _prompt_error("prompt_no_outputs", "Prompt has no outputs", ""), [], {}

    validator = _Validator(registry, prompt_id, prompt)
    good: list[str] = []
    failed: list[tuple[str, list]] = []
    node_errors: dict[str, Any] = {}
    for o in outputs:
        try:
            valid, reasons, _ = await validator.validate(o)
        except Exception as ex:
            typ, _, tb = sys.exc_info()
            valid = False
            reasons = [_error(
                "exception_during_validation", "Exception when validating node", str(ex),
                exception_type=full_type_name(typ), traceback=traceback.format_tb(tb),
            )]
            validator.validated[o] = (False, reasons, o)
        if valid is True:
            good.append(o)
            continue
        log.error("Failed to validate prompt for output %s:", o)
        failed.append((o, reasons))
        for node_id, (ok, node_reasons, _) in validator.validated.items():
            # downstream nodes of a failing node are invalid without reasons: not reported
            if ok is not True and node_reasons:
                entry = node_errors.get(node_id)
                if entry is None:
                    entry = node_errors[node_id] = {
                        "errors": node_reasons, "dependent_outputs": [], "class_type": prompt[node_id]["class_type"],
                    }
                    for reason in node_reasons:
                        log.error("* %s %s: %s: %s", entry["class_type"], node_id, reason["message"], reason["details"])
                entry["dependent_outputs"].append(o)
        log.error("Output will be ignored")

    if not good:
        lines = [f"{e['message']}: {e['details']}" for _, errors in failed for e in errors]
        return False, _prompt_error("prompt_outputs_failed_validation", "Prompt outputs failed validation", "\n".join(lines)), [], node_errors
    return True, None, good, node_errors
