"""Columnar event tables: one numpy array per field, rows appended in batches.

Disputes and incidents are records, not agents; at city scale there are hundreds of
thousands of them, so they live here as columns that grow by doubling.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


class Table:
    def __init__(self, schema: dict[str, tuple[type, object]], capacity: int = 1024):
        self.schema = schema
        self.n = 0
        self._cap = max(16, capacity)
        self._cols = {k: np.full(self._cap, fill, dtype=dt) for k, (dt, fill) in schema.items()}
        self.__dict__.update(self._cols)  # columns as plain attributes: `table.onset[ids]`

    def __len__(self) -> int:
        return self.n

    def append(self, count: int, **values) -> np.ndarray:
        """Add `count` rows; unspecified fields keep their fill value. Returns the new ids."""
        need = self.n + count
        if need > self._cap:
            cap = max(need, 2 * self._cap)
            for k, (dt, fill) in self.schema.items():
                grown = np.full(cap, fill, dtype=dt)
                grown[: self.n] = self._cols[k][: self.n]
                self._cols[k] = grown
            self._cap = cap
            self.__dict__.update(self._cols)
        ids = np.arange(self.n, need)
        for k, v in values.items():
            self._cols[k][self.n : need] = v
        self.n = need
        return ids

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame({k: v[: self.n] for k, v in self._cols.items()})
