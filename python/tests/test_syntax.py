"""Every .py file of the package and its tests must parse under Python 3.9's grammar.

This runs under whatever python3 runs the suite (3.11 on the development machine; the node test
runs the suite again under 3.9 itself where pyenv has it). ``ast.parse(..., feature_version=(3, 9))``
refuses 3.10+ syntax (``match``, parenthesised context managers…). It cannot see 3.10+ *library*
calls, nor ``X | Y`` evaluated at run time; another test refuses ``|`` in annotations of a
module without ``from __future__ import annotations`` (where 3.9 would evaluate them).
"""

from __future__ import annotations

import ast
import re
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FILES = sorted(p for p in ROOT.rglob("*.py") if "__pycache__" not in p.parts)


def annotations(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            args = node.args
            for a in args.posonlyargs + args.args + args.kwonlyargs + [args.vararg, args.kwarg]:
                if a is not None and a.annotation is not None:
                    yield a.annotation
            if node.returns is not None:
                yield node.returns
        elif isinstance(node, ast.AnnAssign):
            yield node.annotation


class Python39(unittest.TestCase):
    def test_there_are_files_to_check(self) -> None:
        names = {p.name for p in FILES}
        self.assertTrue({"client.py", "server.py", "worker.py", "job.py", "test_allot.py"} <= names, names)

    def test_every_file_parses_with_the_3_9_grammar(self) -> None:
        for path in FILES:
            with self.subTest(path=str(path.relative_to(ROOT))):
                ast.parse(path.read_text(encoding="utf-8"), filename=str(path), feature_version=(3, 9))

    def test_3_9_refuses_a_match_statement(self) -> None:
        # The check above can fail: 3.10 syntax is refused.
        with self.assertRaises(SyntaxError):
            ast.parse("match x:\n    case 1:\n        pass\n", feature_version=(3, 9))

    def test_union_annotations_only_under_future_annotations(self) -> None:
        for path in FILES:
            tree = ast.parse(path.read_text(encoding="utf-8"))
            future = any(isinstance(n, ast.ImportFrom) and n.module == "__future__" and any(a.name == "annotations" for a in n.names) for n in tree.body)
            unions = [ann for ann in annotations(tree) if any(isinstance(n, ast.BinOp) and isinstance(n.op, ast.BitOr) for n in ast.walk(ann))]
            with self.subTest(path=str(path.relative_to(ROOT))):
                self.assertTrue(future or not unions, "X | Y annotations need from __future__ import annotations on 3.9")

    def test_package_metadata_says_3_9_and_no_dependencies(self) -> None:
        text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
        self.assertRegex(text, r'(?m)^name = "allot"$')
        self.assertRegex(text, r'(?m)^requires-python = ">=3\.9"$')
        self.assertRegex(text, r"(?m)^dependencies = \[\]$")
        self.assertTrue((ROOT / "src" / "allot" / "py.typed").exists())
        self.assertFalse(re.search(r"(?m)^\s*optional-dependencies", text))


if __name__ == "__main__":
    unittest.main()
