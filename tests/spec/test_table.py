"""The one csv reader: what validation, the estimate and the engine all see in a data file."""

from __future__ import annotations

import pytest

from qspec.spec.table import TableError, read_table

MESSY = (
    "\ufeff f1 , f2 ,label\n"  # a byte-order mark and spaces around the names
    "1, 2 , yes\n"
    "\n"
    "  ,  ,  \n"  # only whitespace: a blank row
    '3,"4", no \n'
    '5,"6\n",yes\n'  # a quoted cell spanning two lines
    "7,8,yes\n"
).encode()


def test_cells_are_stripped_blank_rows_skipped_and_lines_kept() -> None:
    table = read_table("data/set.csv", MESSY)
    assert table.header == ("f1", "f2", "label")
    assert [row.line for row in table.rows] == [2, 5, 6, 8]
    assert table.rows[0].cells == ("1", "2", "yes")
    assert table.labels(table.label_column(None)) == ["yes", "no", "yes", "yes"]
    names, values, labels = table.features(2)
    assert names == ["f1", "f2"] and values == [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0]]
    assert labels == ["yes", "no", "yes", "yes"]


def test_label_column_by_name_or_last() -> None:
    table = read_table("t.csv", b"label,a,b\nx,1,2\n")
    assert table.label_column(None) == 2 and table.label_column("label") == 0
    assert table.features(0) == (["a", "b"], [[1.0, 2.0]], ["x"])
    with pytest.raises(TableError, match=r"t\.csv has no column 'lable'") as info:
        table.label_column("lable")
    assert info.value.key == "target" and info.value.where == "spec.data.target"
    assert info.value.hint == "did you mean 'label'?"
    with pytest.raises(TableError) as info:
        table.label_column("kind")
    assert info.value.hint == "its columns are label, a, b"


@pytest.mark.parametrize(("content", "message"), [
    (b"a,b\n\n  \n", r"t\.csv has no data rows"),
    (b"", r"t\.csv has no data rows"),
    (b"a,b\n\xff\xfe,1\n", r"t\.csv:2 is not UTF-8 text \(at byte offset 4\)"),
])
def test_unreadable_or_empty_files(content: bytes, message: str) -> None:
    with pytest.raises(TableError, match=message) as info:
        read_table("t.csv", content)
    assert info.value.key == "source" and info.value.hint


@pytest.mark.parametrize(("row", "message"), [
    ("1, nan ,yes", "t.csv:4:2: column 'f2' is not a finite number"),
    ("1,   ,yes", "t.csv:4:2: column 'f2' is empty"),
    (" x1 ,2,yes", "t.csv:4:1: column 'f1' is text, not a number"),
    ("1,-inf,yes", "t.csv:4:2: column 'f2' is not a finite number"),
    ("1,2,3,yes", "t.csv:4:4: 4 cells, the header names 3 columns"),
    ("1,yes", "t.csv:4:3: 2 cells, the header names 3 columns"),
])
def test_numbers_are_checked_with_file_line_and_column(row: str, message: str) -> None:
    """Errors name the file, line, column and what is wrong, never the cell's value."""
    table = read_table("t.csv", "\n".join(["f1,f2,label", "1,2,no", "", row, "5,6,no"]).encode())
    assert table.labels(2)[0] == "no"  # labels alone read without parsing numbers
    with pytest.raises(TableError) as info:
        table.features(2)
    assert info.value.message == message


def test_missing_classes_name_the_column_and_what_is_present() -> None:
    table = read_table("t.csv", b"a,kind\n1, up \n2,down\n")
    assert table.missing_classes(1, ["up", "down"]) == []  # ' up ' is 'up'
    assert table.missing_classes(1, ["up", 0]) == [
        (1, "class 0 does not occur in column 'kind' of t.csv", "labels present: down, up")]


def test_validation_estimate_and_engine_agree_on_a_messy_file(tmp_path) -> None:
    """Padded labels count for validation, the row count of the estimate and the engine alike."""
    from qspec.quantum.data import load_dataset
    from qspec.quantum.estimate import split_sizes
    from qspec.spec import load_specs

    lines = ["\ufeffa , b , kind"] + [f" {i % 5} , {i % 3} , {' up' if i % 2 else 'down '}" for i in range(20)]
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "set.csv").write_text("\n".join([*lines[:8], "", "   ", *lines[8:]]) + "\n")
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "a.yaml").write_text(
        "apiVersion: qspec/v1\nkind: Experiment\nmetadata: {name: messy}\nspec:\n  task: classification\n"
        "  data: {source: 'csv:data/set.csv', classes: [down, up], target: kind}\n"
        "  circuit: {qubits: 2, feature_map: {type: angle}, ansatz: {type: real_amplitudes}}\n")
    experiment = load_specs([tmp_path / "specs"], root=tmp_path).experiments["messy"].resource
    read = lambda path: (tmp_path / path).read_bytes()  # noqa: E731
    n_train, n_test, known = split_sizes(experiment.spec, read)
    assert known and n_train + n_test == 20
    assert experiment.spec.data is not None
    dataset = load_dataset(experiment.spec.data, read)
    assert dataset.features.shape == (20, 2) and dataset.feature_names == ["a", "b"]
    assert dataset.labels.sum() == 10


def test_validation_reports_a_bad_cell_at_the_source(tmp_path) -> None:
    from qspec.errors import SpecError
    from qspec.spec import load_specs

    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "set.csv").write_text("a,b,kind\n1,2,up\n3,oops,down\n")
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "a.yaml").write_text(
        "apiVersion: qspec/v1\nkind: Experiment\nmetadata: {name: bad}\nspec:\n  task: classification\n"
        "  data: {source: 'csv:data/set.csv', classes: [down, up]}\n"
        "  circuit: {qubits: 2, feature_map: {type: angle}, ansatz: {type: real_amplitudes}}\n")
    with pytest.raises(SpecError) as info:
        load_specs([tmp_path / "specs"], root=tmp_path)
    (problem,) = info.value.problems
    assert (problem.line, problem.path) == (6, "spec.data.source")
    assert problem.message == "data/set.csv:3:2: column 'b' is text, not a number"
    assert "oops" not in str(info.value)
