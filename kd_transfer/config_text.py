"""Reading the literal assignments of a config text without executing it (shared by the
exporter, which reads a checkpoint's ``meta.cfg``, and the report, which reads dumped configs)."""
import ast
from typing import Any, Dict


def _literal(node: ast.AST) -> Any:
    """Evaluate a config expression made of literals and ``dict(...)`` calls only."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, (ast.List, ast.Tuple)):
        values = [_literal(n) for n in node.elts]
        return values if isinstance(node, ast.List) else tuple(values)
    if isinstance(node, ast.Dict):
        return {_literal(k): _literal(v) for k, v in zip(node.keys, node.values)}
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = _literal(node.operand)
        return -value if isinstance(node.op, ast.USub) else value
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id == 'dict' and not node.args):
        return {kw.arg: _literal(kw.value) for kw in node.keywords if kw.arg is not None}
    raise ValueError(f'not a literal: {ast.dump(node)[:60]}')


def parse_config_text(text: str) -> Dict[str, Any]:
    """Read the top-level assignments of a config text without executing it.

    A checkpoint's ``meta.cfg`` is Python source; running it would defeat ``weights_only``.
    Only literal values and ``dict(...)`` calls are evaluated; other assignments are skipped.

    Args:
        text (str): Config text (mmengine's ``Config.pretty_text``).

    Returns:
        dict: Variable name -> value for every assignment that is a pure literal.
    """
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return {}
    out: Dict[str, Any] = {}
    for node in tree.body:
        if (isinstance(node, ast.Assign) and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)):
            try:
                out[node.targets[0].id] = _literal(node.value)
            except (ValueError, TypeError):
                continue
    return out
