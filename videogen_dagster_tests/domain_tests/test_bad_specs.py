"""Every bad spec in the corpus is refused with one clear line naming the file and the field.

The same corpus goes through ``parse_spec`` too, as the pipeline reads spec snapshots from
the store rather than files: the rules must not depend on where the text came from.
"""

from __future__ import annotations

import pytest

from videogen_dagster.domain.errors import SpecError
from videogen_dagster.domain.spec import load_spec, parse_spec
from videogen_dagster_tests.domain_tests.bad_specs import BAD_SPECS, PNG, BadSpec, write_case


def _assert_names_file_and_field(error: SpecError, source: str, case: BadSpec) -> None:
    assert error.path == source
    matching = [p for p in error.problems if p.field == case.field and case.message in p.message]
    assert matching, f"no problem on field {case.field!r} saying {case.message!r} in:\n{error}"
    prefix = f"{source}: {case.field}: " if case.field else f"{source}: "
    lines = str(error).splitlines()
    assert len(lines) == len(error.problems)
    assert any(line.startswith(prefix) and case.message in line for line in lines), str(error)
    # Plain words for people: no pydantic jargon, links or tracebacks.
    for marker in ("Traceback", "errors.pydantic.dev", "Input should", "validation error"):
        assert marker not in str(error)


@pytest.mark.parametrize("case", BAD_SPECS, ids=lambda case: case.name)
def test_bad_spec_file_is_refused_naming_file_and_field(case: BadSpec, tmp_path):
    path = write_case(case, tmp_path / "specs")
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    _assert_names_file_and_field(caught.value, str(path), case)


_SNAPSHOT_CASES = [
    case
    for case in BAD_SPECS
    # Ids and reference files are properties of a file on disk, not of its text.
    if case.content is not None
    and case.setup is None
    and not case.name.startswith("id-")
    and case.name != "ref-missing"
]


@pytest.mark.parametrize("case", _SNAPSHOT_CASES, ids=lambda case: case.name)
def test_bad_spec_text_is_refused_the_same_way_from_the_store(case: BadSpec):
    source = f"videos/{case.filename}"
    assert case.content is not None
    with pytest.raises(SpecError) as caught:
        parse_spec(case.content, source=source, base_dir=None)
    _assert_names_file_and_field(caught.value, source, case)


def test_corpus_covers_at_least_thirty_cases():
    assert len(BAD_SPECS) >= 30
    assert len({case.filename for case in BAD_SPECS}) == len(BAD_SPECS)


def test_reference_is_checked_by_opening_it(tmp_path):
    # chmod 000 stops a normal user but not root, and the tests may run as either: the spec
    # must be refused exactly when the process really cannot read the image.
    reference = tmp_path / "locked.png"
    reference.write_bytes(PNG)
    reference.chmod(0)
    spec = tmp_path / "locked-ref.yaml"
    spec.write_text("duration: 15\nprompt: x\nreferences: [locked.png]\n")
    try:
        reference.open("rb").close()
        readable = True
    except PermissionError:
        readable = False
    if readable:
        video_id, loaded = load_spec(spec)
        assert (video_id, loaded.references) == ("locked-ref", ["locked.png"])
    else:
        with pytest.raises(SpecError, match=r"references\[0\]: 'locked.png' cannot be read"):
            load_spec(spec)


def test_all_problems_of_a_file_are_reported_at_once(tmp_path):
    path = tmp_path / "Two Problems.yaml"
    path.write_text("duration: 0\nbeats:\n  - {description: '', duration: -1}\ncolour: red\n")
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    assert [problem.field for problem in caught.value.problems] == [
        "",
        "duration",
        "beats[0].description",
        "beats[0].duration",
        "colour",
    ]


def test_missing_prompt_is_reported_along_with_other_problems():
    with pytest.raises(SpecError) as caught:
        parse_spec("duration: 1\n", source="x.yaml", base_dir=None)
    assert [problem.field for problem in caught.value.problems] == ["duration", "prompt"]
