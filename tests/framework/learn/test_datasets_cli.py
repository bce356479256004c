"""``--data`` and cross-validation errors point at the user's file (issue #16)."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from lamina.cli import main
from lamina.errors import InputError
from lamina.learn.datasets import read_csv


def _run(*args: str):
    return CliRunner().invoke(main, list(args))


def test_data_folder_says_it_is_a_folder(tmp_path):
    result = _run("learn", "gaussian-nb", "--data", str(tmp_path), "--target", "y")
    assert result.exit_code == 2
    assert "is a folder; expected a CSV file" in result.output
    assert "does not exist" not in result.output
    with pytest.raises(InputError, match="is a folder"):
        read_csv(tmp_path, target="y")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_missing_value_in_cross_validation_is_named_by_file_line(tmp_path, seed):
    rng = np.random.default_rng(seed)
    rows = [f"{a:.3f},{b:.3f},{'xy'[i % 2]}" for i, (a, b) in enumerate(rng.normal(size=(30, 2)))]
    bad = int(rng.integers(5, 30))
    rows[bad] = f",{rng.normal():.3f},{'xy'[bad % 2]}"
    rows.insert(3, "")  # a blank line: rows and lines differ from here on
    path = tmp_path / "table.csv"
    path.write_text("a,b,label\n" + "\n".join(rows) + "\n")
    line = 2 + rows.index(next(r for r in rows if r.startswith(",")))
    assert path.read_text().splitlines()[line - 1].startswith(",")
    result = _run("learn", "gaussian-nb", "--data", str(path), "--target", "label", "--cv", "3")
    assert result.exit_code == 2
    message = result.output.strip().splitlines()[-1]
    assert f"line {line}: column 'a' is missing a value (data row {bad + 1})" in message
    assert "gaussian-nb does not accept missing values" in message


def test_read_csv_records_each_rows_line(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,label\n1,x\n\n2,y\n3,x\n")
    data = read_csv(path, target="label")
    assert data.lines.tolist() == [2, 4, 5]
    assert data.subset(np.array([2, 0])).lines.tolist() == [5, 2]


def test_infinity_in_cross_validation_is_named_by_file_line(tmp_path):
    path = tmp_path / "inf.csv"
    path.write_text("a,b,label\n1,2,x\n2,3,y\n3,inf,x\n4,5,y\n5,6,x\n6,7,y\n")
    result = _run("learn", "gaussian-nb", "--data", str(path), "--target", "label", "--cv", "2")
    assert result.exit_code == 2
    assert "line 4: column 'b' holds inf (data row 3)" in result.output
