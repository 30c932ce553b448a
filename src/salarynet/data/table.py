"""Survey answers by column without pandas (importing it costs a third of a second): one person's answers, or a
few variants of them. It offers what encoding, flags and explanations ask of a frame (features.Frame):
len(), `column in table`, table[column] (a list of answers), .columns and .assign()."""

from typing import Any


class Answers:
    def __init__(self, columns: dict[str, list[Any]], rows: int | None = None):
        self._columns = {str(name): list(values) for name, values in columns.items()}
        lengths = {len(values) for values in self._columns.values()}
        if rows is None:
            rows = lengths.pop() if len(lengths) == 1 else 0 if not lengths else -1
        if rows < 0 or any(n != rows for n in lengths):
            raise ValueError(f"columns of different lengths: {sorted(lengths)}")
        self._rows = rows

    @classmethod
    def one(cls, person: dict[str, Any]) -> "Answers":
        """One row: {column: answer}."""
        return cls({name: [value] for name, value in person.items()}, rows=1)

    def __len__(self) -> int:
        return self._rows

    def __contains__(self, column: object) -> bool:
        return column in self._columns

    def __getitem__(self, column: str) -> list[Any]:
        return self._columns[column]

    @property
    def columns(self) -> list[str]:
        return list(self._columns)

    def assign(self, **columns: list[Any]) -> "Answers":
        return Answers(self._columns | columns, rows=self._rows)

    def row(self, i: int = 0) -> dict[str, Any]:
        return {name: values[i] for name, values in self._columns.items()}
