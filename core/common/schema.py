"""The shared vocabulary of RE Studio: label sets, entity types and the canonical row frame.

Every loader produces, and every other module consumes, a *canonical frame*: a
``pandas.DataFrame`` with exactly the columns in :data:`COLUMNS`. Offsets are
character offsets into ``sentence`` with an INCLUSIVE end, as in the KLUE
competition CSV (``sentence[start:end + 1] == word``).

Facts come from ``../shared/klue_re_facts.md``; labels are always mapped by
name, never by index across sources.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from core.common.errors import RestudioError

NO_RELATION = "no_relation"

#: Label order of the competition baseline; submission ``probs`` follow it.
KLUE_LABELS: tuple[str, ...] = (
    "no_relation",
    "org:top_members/employees",
    "org:members",
    "org:product",
    "per:title",
    "org:alternate_names",
    "per:employee_of",
    "org:place_of_headquarters",
    "per:product",
    "org:number_of_employees/members",
    "per:children",
    "per:place_of_residence",
    "per:alternate_names",
    "per:other_family",
    "per:colleagues",
    "per:origin",
    "per:siblings",
    "per:spouse",
    "org:founded",
    "org:political/religious_affiliation",
    "org:member_of",
    "per:parents",
    "org:dissolved",
    "per:schools_attended",
    "per:date_of_death",
    "per:date_of_birth",
    "per:place_of_birth",
    "per:place_of_death",
    "org:founded_by",
    "per:religion",
)

#: Order of the official KLUE release (relation_list.json) and of HF ``klue``/``re`` integer labels.
KLUE_OFFICIAL_LABELS: tuple[str, ...] = (
    "no_relation",
    "org:dissolved",
    "org:founded",
    "org:place_of_headquarters",
    "org:alternate_names",
    "org:member_of",
    "org:members",
    "org:political/religious_affiliation",
    "org:product",
    "org:founded_by",
    "org:top_members/employees",
    "org:number_of_employees/members",
    "per:date_of_birth",
    "per:date_of_death",
    "per:place_of_birth",
    "per:place_of_death",
    "per:place_of_residence",
    "per:origin",
    "per:employee_of",
    "per:schools_attended",
    "per:alternate_names",
    "per:parents",
    "per:children",
    "per:siblings",
    "per:spouse",
    "per:other_family",
    "per:colleagues",
    "per:product",
    "per:religion",
    "per:title",
)

KLUE_SUBJECT_TYPES: tuple[str, ...] = ("PER", "ORG")
KLUE_OBJECT_TYPES: tuple[str, ...] = ("PER", "ORG", "LOC", "DAT", "POH", "NOH")
KLUE_SOURCES: tuple[str, ...] = ("wikipedia", "wikitree", "policy_briefing")

#: Korean names of the entity types, used by the typed-marker (punct) input format.
KLUE_TYPE_NAMES_KO: dict[str, str] = {
    "PER": "사람",
    "ORG": "단체",
    "LOC": "장소",
    "DAT": "날짜",
    "POH": "기타 고유명사",
    "NOH": "수량",
}

#: Inverse relation pairs (both directions) for entity-swap augmentation.
INVERSE_RELATIONS: dict[str, str] = {
    "per:parents": "per:children",
    "per:children": "per:parents",
    "org:members": "org:member_of",
    "org:member_of": "org:members",
}
SYMMETRIC_RELATIONS: frozenset[str] = frozenset({"per:spouse", "per:siblings", "per:colleagues", "per:other_family"})

#: Label value the competition's unlabeled test file carries on every row.
UNLABELED_TEST_LABEL = 100

TACRED_LABELS: tuple[str, ...] = (
    "no_relation",
    "org:alternate_names",
    "org:city_of_headquarters",
    "org:country_of_headquarters",
    "org:dissolved",
    "org:founded",
    "org:founded_by",
    "org:member_of",
    "org:members",
    "org:number_of_employees/members",
    "org:parents",
    "org:political/religious_affiliation",
    "org:shareholders",
    "org:stateorprovince_of_headquarters",
    "org:subsidiaries",
    "org:top_members/employees",
    "org:website",
    "per:age",
    "per:alternate_names",
    "per:cause_of_death",
    "per:charges",
    "per:children",
    "per:cities_of_residence",
    "per:city_of_birth",
    "per:city_of_death",
    "per:countries_of_residence",
    "per:country_of_birth",
    "per:country_of_death",
    "per:date_of_birth",
    "per:date_of_death",
    "per:employee_of",
    "per:origin",
    "per:other_family",
    "per:parents",
    "per:religion",
    "per:schools_attended",
    "per:siblings",
    "per:spouse",
    "per:stateorprovince_of_birth",
    "per:stateorprovince_of_death",
    "per:stateorprovinces_of_residence",
    "per:title",
)
TACRED_SUBJECT_TYPES: tuple[str, ...] = ("PERSON", "ORGANIZATION")
TACRED_OBJECT_TYPES: tuple[str, ...] = (
    "PERSON",
    "ORGANIZATION",
    "LOCATION",
    "CITY",
    "COUNTRY",
    "STATE_OR_PROVINCE",
    "NATIONALITY",
    "DATE",
    "TIME",
    "DURATION",
    "NUMBER",
    "ORDINAL",
    "PERCENT",
    "MONEY",
    "SET",
    "TITLE",
    "MISC",
    "CAUSE_OF_DEATH",
    "CRIMINAL_CHARGE",
    "RELIGION",
    "IDEOLOGY",
    "URL",
    "EMAIL",
)


@dataclass(frozen=True)
class LabelSchema:
    """What a dataset may contain: its labels (in model order) and entity types.

    ``prefix_subject_type`` maps a label prefix (``org``, ``per``) to the only
    subject type that prefix allows; the audit's prefix rule reads it.
    """

    name: str
    labels: tuple[str, ...]
    subject_types: tuple[str, ...]
    object_types: tuple[str, ...]
    prefix_subject_type: dict[str, str] = field(default_factory=dict)
    sources: tuple[str, ...] = ()

    @property
    def entity_types(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.subject_types + self.object_types))

    @property
    def label_to_id(self) -> dict[str, int]:
        return {label: i for i, label in enumerate(self.labels)}

    def with_labels(self, labels: tuple[str, ...]) -> LabelSchema:
        """The same schema with another label order (from a user's label map)."""
        return LabelSchema(
            self.name,
            tuple(labels),
            self.subject_types,
            self.object_types,
            dict(self.prefix_subject_type),
            self.sources,
        )


KLUE_SCHEMA = LabelSchema(
    name="klue",
    labels=KLUE_LABELS,
    subject_types=KLUE_SUBJECT_TYPES,
    object_types=KLUE_OBJECT_TYPES,
    prefix_subject_type={"org": "ORG", "per": "PER"},
    sources=KLUE_SOURCES,
)
TACRED_SCHEMA = LabelSchema(
    name="tacred",
    labels=TACRED_LABELS,
    subject_types=TACRED_SUBJECT_TYPES,
    object_types=TACRED_OBJECT_TYPES,
    prefix_subject_type={"org": "ORGANIZATION", "per": "PERSON"},
)
SCHEMAS: dict[str, LabelSchema] = {s.name: s for s in (KLUE_SCHEMA, TACRED_SCHEMA)}

#: Columns of the canonical frame, in order.
#: - ``id``: string (competition ids are integers, written back as such on export)
#: - ``*_start`` / ``*_end``: int64 character offsets, end INCLUSIVE
#: - ``label``: relation name; missing (``pd.NA``) for an unlabeled test row
#: - ``source``: string, may be empty
#: - ``row``: 1-based record number in the file it came from (header not counted)
COLUMNS: tuple[str, ...] = (
    "id",
    "sentence",
    "subj_word",
    "subj_start",
    "subj_end",
    "subj_type",
    "obj_word",
    "obj_start",
    "obj_end",
    "obj_type",
    "label",
    "source",
    "row",
)
ROLES: tuple[str, ...] = ("subj", "obj")
#: Fields of a row that a correction may change (besides dropping the row).
EDITABLE_FIELDS: tuple[str, ...] = (
    "label",
    "subj_word",
    "subj_start",
    "subj_end",
    "subj_type",
    "obj_word",
    "obj_start",
    "obj_end",
    "obj_type",
)
INT_FIELDS: frozenset[str] = frozenset({"subj_start", "subj_end", "obj_start", "obj_end", "row"})


@dataclass(frozen=True)
class InvalidRow:
    """One row a loader could not accept: where it is, which field, and why."""

    row: int
    field: str
    reason: str
    id: str | None = None

    def as_dict(self) -> dict[str, object]:
        return {"row": self.row, "field": self.field, "reason": self.reason, "id": self.id}


class DataError(RestudioError):
    """A file could not be read at all (wrong encoding, not a dataset, unreadable).

    The message names the file and says what to do; the CLI prints it on one
    line and exits 2, the views show it as an error box.
    """


#: Characters that draw nothing or reorder the text around them: zero-width space, non-joiner and joiner,
#: the left-to-right / right-to-left marks (U+200B-U+200F), the bidi embeddings and overrides
#: (U+202A-U+202E), the bidi isolates (U+2066-U+2069) and the byte-order mark (U+FEFF). In an id or a
#: name they make two different values look the same, or make ``report\u202etxt.exe`` read as
#: ``reportexe.txt``. The character class is also valid RE2 (pyarrow's vectorised regex).
INVISIBLE_CHARS_CLASS = "[\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]"
INVISIBLE_CHARS = re.compile(INVISIBLE_CHARS_CLASS)


def invisible_codes(text: str) -> list[str]:
    """The invisible or direction-changing characters in ``text`` as codes (``U+202E``), first seen first."""
    return list(dict.fromkeys(f"U+{ord(c):04X}" for c in INVISIBLE_CHARS.findall(text)))


#: Longest dataset name: names are shown in the sidebar, page titles and file names.
MAX_DATASET_NAME = 80


def check_dataset_name(name: str) -> str:
    """The dataset name, stripped, or :class:`DataError` saying what is wrong with it.

    Names are shown everywhere (sidebar, messages, download file names), so they must be short, one line,
    and look like what they are: no control, zero-width or bidi characters.
    """
    name = name.strip()
    if not name:
        raise DataError("A dataset needs a name.")
    if len(name) > MAX_DATASET_NAME:
        raise DataError(
            f"Dataset names are at most {MAX_DATASET_NAME} characters; this one has {len(name):,}. Type a shorter name."
        )
    hidden = invisible_codes(name)
    if hidden:
        raise DataError(
            f"The dataset name contains invisible or direction-changing character(s) {', '.join(hidden)}; "
            "type the name without them."
        )
    if any(ord(c) < 32 or 0x7F <= ord(c) < 0xA0 or c in "\u2028\u2029" for c in name):
        raise DataError("The dataset name contains a line break or another control character; use one line.")
    return name
