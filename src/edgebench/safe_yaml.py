"""YAML from files edgebench did not write (suites, targets.yaml), with a bound on aliases.

An alias (`*name`) repeats the node its anchor (`&name`) names. Nested, a dozen lines of
aliases stand for billions of values (the "billion laughs"): whatever walks the expanded tree,
a duplicate-key check, a validation, a `str()` of it, runs for hours. So the size of the tree
the aliases expand to is counted, in time linear in the file, before anything walks it; past
`MAX_VALUES` the file is refused. Anchors and aliases within that size (the built-in suites
share their model lists that way) stay allowed.
"""

from __future__ import annotations

from typing import Any

import yaml

MAX_VALUES = 100_000  # values (scalars, lists, mappings) after the aliases are expanded


class YamlTooLarge(ValueError):
    """A YAML document whose aliases expand past MAX_VALUES."""


def expanded_size(root: yaml.Node | None) -> int:
    """How many values the node stands for once every alias is expanded (each node's size
    is counted once and remembered, so this is linear in the file's own size)."""
    sizes: dict[int, int] = {}

    def size(node: yaml.Node) -> int:
        known = sizes.get(id(node))
        if known is not None:
            return known
        sizes[id(node)] = 1  # a node that contains itself (a recursive alias) counts once
        if isinstance(node, yaml.SequenceNode):
            total = 1 + sum(size(item) for item in node.value)
        elif isinstance(node, yaml.MappingNode):
            total = 1 + sum(size(k) + size(v) for k, v in node.value)
        else:
            total = 1
        sizes[id(node)] = min(total, MAX_VALUES + 1)
        return sizes[id(node)]

    return size(root) if root is not None else 0


def load_bounded(text: str) -> tuple[yaml.Node | None, Any]:
    """The document's node tree (with line numbers) and its data.

    Raises:
        yaml.YAMLError: the text is not YAML.
        YamlTooLarge: its aliases expand to more than MAX_VALUES values.
    """
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    n = expanded_size(root)
    if n > MAX_VALUES:
        raise YamlTooLarge(
            f"its aliases (*name) expand to more than {MAX_VALUES:,} values: refused (an alias "
            "bomb?); write the repeated parts out, or use fewer nested aliases"
        )
    return root, yaml.safe_load(text)


__all__ = ["MAX_VALUES", "YamlTooLarge", "expanded_size", "load_bounded"]
