"""The conditions of `refinery filter --where`: comparisons on numeric columns of documents/, combined with and, or,
not and parentheses, e.g. `quality_score >= 0.2 and (language_score > 0.8 or not quality_score < 0.5)`.

Parsed with Python's `ast` and accepted only when every node is one of those (nothing is evaluated as Python: no
names but column names, no calls, no attributes); evaluated on whole Arrow tables with pyarrow.compute, with SQL's
logic for null values (a column its stage did not fill): a comparison with null is unknown, `not` of unknown is
unknown, `x or unknown` is x when x is true; a document passes only when the whole condition is true.
"""

import ast

import pyarrow as pa
import pyarrow.compute as pc


class WhereError(ValueError):
    pass


_COMPARE = {ast.Gt: pc.greater, ast.GtE: pc.greater_equal, ast.Lt: pc.less, ast.LtE: pc.less_equal,
            ast.Eq: pc.equal, ast.NotEq: pc.not_equal}
_SYMBOL = {ast.Gt: ">", ast.GtE: ">=", ast.Lt: "<", ast.LtE: "<=", ast.Eq: "==", ast.NotEq: "!="}


def numeric_fields(schema: pa.Schema) -> list[str]:
    return [f.name for f in schema if pa.types.is_integer(f.type) or pa.types.is_floating(f.type)]


class Where:
    """A parsed condition; `fields` are the numeric columns it may name."""

    def __init__(self, expr: str, fields: list[str], other_columns: list[str] = ()):
        self.expr, self.fields, self.other_columns = expr, list(fields), list(other_columns)
        try:
            tree = ast.parse(expr.strip(), mode="eval")
        except SyntaxError as e:
            raise WhereError(f"--where {expr!r}: not a condition ({e.msg})") from None
        self.tree = tree.body
        self.names: set[str] = set()
        self._check(self.tree)

    def _check(self, node):
        if isinstance(node, ast.BoolOp) and isinstance(node.op, (ast.And, ast.Or)):
            for v in node.values:
                self._check_condition(v)
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            self._check_condition(node.operand)
        elif isinstance(node, ast.Compare):
            for op in node.ops:
                if type(op) not in _COMPARE:
                    raise WhereError(f"--where {self.expr!r}: operator {type(op).__name__} is not allowed "
                                     f"(use >, >=, <, <=, ==, !=)")
            for operand in [node.left] + node.comparators:
                self._check_operand(operand)
            if all(self._number(o) is not None for o in [node.left] + node.comparators):
                raise WhereError(f"--where {self.expr!r}: a comparison must name a field")
        else:
            raise WhereError(f"--where {self.expr!r}: {ast.unparse(node)!r} is not a comparison; write conditions "
                             f"such as `quality_score >= 0.5`, joined by and, or, not and parentheses")

    def _check_condition(self, node):
        if not isinstance(node, (ast.BoolOp, ast.UnaryOp, ast.Compare)):
            raise WhereError(f"--where {self.expr!r}: {ast.unparse(node)!r} is not a comparison")
        self._check(node)

    @staticmethod
    def _number(node):
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
            return node.value
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            inner = Where._number(node.operand)
            if inner is not None:
                return -inner if isinstance(node.op, ast.USub) else inner
        return None

    def _check_operand(self, node):
        if self._number(node) is not None:
            return
        if isinstance(node, ast.Name):
            if node.id in self.other_columns:
                raise WhereError(f"--where {self.expr!r}: field {node.id!r} is not numeric; the numeric fields of "
                                 f"documents/ are: {', '.join(self.fields)}")
            if node.id not in self.fields:
                raise WhereError(f"--where {self.expr!r}: unknown field {node.id!r}; the numeric fields of "
                                 f"documents/ are: {', '.join(self.fields)}")
            self.names.add(node.id)
            return
        raise WhereError(f"--where {self.expr!r}: {ast.unparse(node)!r} is neither a field nor a number")

    # -- evaluation ----------------------------------------------------------------------------------------------------
    def mask(self, table: pa.Table) -> pa.Array:
        """True for the rows that pass (nulls count as not passing)."""
        result = self._eval(self.tree, table)
        if isinstance(result, pa.ChunkedArray):
            result = result.combine_chunks()
        return pc.fill_null(result, False)

    def _value(self, node, table):
        number = self._number(node)
        if number is not None:
            return pa.scalar(float(number))
        return table.column(node.id)

    def _eval(self, node, table):
        if isinstance(node, ast.BoolOp):
            values = [self._eval(v, table) for v in node.values]
            combine = pc.and_kleene if isinstance(node.op, ast.And) else pc.or_kleene
            out = values[0]
            for v in values[1:]:
                out = combine(out, v)
            return out
        if isinstance(node, ast.UnaryOp):  # not: a null stays null, then false
            return pc.invert(self._eval(node.operand, table))
        # a chained comparison a < b <= c is a < b and b <= c
        out, left = None, node.left
        for op, right in zip(node.ops, node.comparators):
            part = _COMPARE[type(op)](self._value(left, table), self._value(right, table))
            out = part if out is None else pc.and_kleene(out, part)
            left = right
        return out
