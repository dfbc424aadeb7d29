"""Relations and sentence templates of the synthetic demo dataset, and the compiler of their mini-language.

Each KLUE relation is a :class:`Rel`: its subject class, its legitimate object classes and several Korean
sentence templates; ``no_relation`` has templates of its own. ``_compile`` turns each template text into
a :class:`Template` (literal parts, entity slots, particles), with one :class:`Variant` per object type
and the unrelated entity pairs that derived ``no_relation`` rows are marked on; everything is checked
once at import (every relation covered, types that fit the labels). This is the content a reader edits
to change what the demo says, so it lives apart from the row generator, which only draws from the
compiled :data:`TEMPLATES`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from core.common.schema import KLUE_LABELS, NO_RELATION
from core.data.demo_lexicon import LABEL_CODE, LEX, NR, TYPE_CODE, TYPES

# ----------------------------------------------------------------------------------------------------
# Relations and templates.
#
# Template mini-language: ``{S}`` subject, ``{O}`` object, ``{X:cls}`` / ``{Y:cls}`` context entities
# (always unrelated to S and O: event dates, venues, reporting media). ``{O:cls}`` overrides the
# relation's class for the slot (and fixes the object type); ``{O:kin@S}`` draws a person with S's
# surname; ``{O:orgabbr@S}`` the short name of S. ``{은/는}`` is a particle chosen by the final sound of the
# preceding entity (``{은/는@S}`` names the entity). Sources: W wikipedia, T wikitree, P policy_briefing.
# ----------------------------------------------------------------------------------------------------

_W, _T, _P = 0, 1, 2


@dataclass(frozen=True)
class Rel:
    label: str
    subj: str
    obj: dict[str, str]  # object type -> slot class
    templates: tuple[tuple[str, int], ...]
    minor_share: float = 0.0  # share of the second object type in ``obj`` (two-type relations)


_RELATIONS: tuple[Rel, ...] = (
    Rel(
        "org:top_members/employees",
        "org_lead",
        {"PER": "people"},
        (
            ("{S} {O} 대표는 {X:news_date} 기자간담회에서 올해 사업 목표를 발표했다.", _T),
            ("{O}{은/는} {X:news_year}부터 {S}의 회장을 맡아 조직을 이끌고 있다.", _W),
            ("{S}{은/는} {X:news_date} 이사회를 열고 {O}{을/를} 신임 사장으로 선임했다.", _T),
            ("{S}의 최고경영자인 {O}{은/는} 이번 결정이 불가피했다고 설명했다.", _T),
            ("{O} {S} 위원장은 {X:city}에서 열린 회의에 참석해 협력을 당부했다.", _P),
            ("{S}{을/를} 이끄는 {O} 이사장은 내년 예산안을 공개했다.", _P),
        ),
    ),
    Rel(
        "per:employee_of",
        "people",
        {"ORG": "employer"},
        (
            ("{S}{은/는} {X:news_year} {O}에 입사해 연구원으로 일했다.", _W),
            ("{O} 소속 {S} 연구원은 이번 연구 결과를 학회에서 발표했다.", _T),
            ("{S}{은/는} {O}에서 오랫동안 근무하다가 {X:news_year} 퇴직했다.", _W),
            ("{O}에 재직 중인 {S}{은/는} {X:media}{과/와}의 인터뷰에서 소감을 밝혔다.", _T),
            ("{S} {O} 대변인은 {X:news_date} 정례 브리핑에서 정책 방향을 설명했다.", _P),
            ("{O}{은/는} {S}{을/를} 신임 연구소장으로 영입했다고 밝혔다.", _T),
        ),
    ),
    Rel(
        "per:title",
        "people",
        {"POH": "title"},
        (
            ("{S} {O}{은/는} {X:news_date} 열린 행사에서 축사를 했다.", _T),
            ("{S}{은/는} {X:news_year} {O}{으로/로} 임명되었다.", _W),
            ("신임 {O}{으로/로} 선출된 {S}{은/는} 짧게 소감을 밝혔다.", _P),
            ("{S}{은/는} 오랫동안 {O}{으로/로} 활동하며 이름을 알렸다.", _W),
            ("{X:media}에 따르면 {S} {O}{은/는} 이날 현장을 직접 점검했다.", _T),
            ("{S}의 공식 직함은 {O}{이다/다}.", _W),
        ),
    ),
    Rel(
        "org:member_of",
        "member_org",
        {"ORG": "body"},
        (
            ("{S}{은/는} {X:news_year} {O}에 가입했다.", _W),
            ("{O} 소속인 {S}{은/는} 이번 시즌 개막전에서 승리를 거뒀다.", _T),
            ("{S}{은/는} {O}의 회원사로 활동하고 있다.", _P),
            ("{O}에 속한 {S}{은/는} {X:news_date} 정기 총회에 대표단을 보냈다.", _T),
            ("{S}{이/가} {O}의 정회원 자격을 얻었다고 {X:media}{이/가} 보도했다.", _T),
        ),
    ),
    Rel(
        "org:members",
        "body",
        {"ORG": "member_org", "LOC": "country"},
        (
            ("{S}에는 {O} 등 여러 회원이 소속되어 있다.", _W),
            ("{S}{은/는} {X:news_year} {O}{을/를} 새 회원으로 받아들였다.", _W),
            ("{O}{은/는} {S}의 회원으로서 {X:news_date} 총회에 참석했다.", _T),
            ("{S} 회원국인 {O:country}{은/는} 이번 합의에 서명했다.", _P),
            ("{S}{은/는} 산하에 {O:member_org}{을/를} 두고 있다.", _W),
        ),
        minor_share=0.4,
    ),
    Rel(
        "org:alternate_names",
        "orgfull",
        {"ORG": "orgabbr@S"},
        (
            ("{S}{은/는} 흔히 {O}{으로/로} 불린다.", _W),
            ("{S}의 약칭은 {O}{이다/다}.", _W),
            ("{O}{은/는} {S}{을/를} 줄여 부르는 이름이다.", _T),
            ("{S}({O}) 관계자는 {X:news_date} 새 운영 계획을 발표했다.", _T),
            ("{S}, 줄여서 {O}{은/는} {X:news_year}부터 지금의 체제로 운영되고 있다.", _W),
            ("{X:media}{은/는} {S}{을/를} {O}{이라고/라고} 줄여 표기한다.", _P),
        ),
    ),
    Rel(
        "per:origin",
        "people",
        {"LOC": "places", "ORG": "clan"},
        (
            ("{O:country} 출신의 {S}{은/는} {X:news_year} 한국으로 건너왔다.", _W),
            ("{S}{은/는} {O} 출신이다.", _W),
            ("{O:country} 국적의 {S}{은/는} 이번 대회에서 금메달을 땄다.", _T),
            ("{S}{은/는} {O:clan}의 후손으로 알려져 있다.", _W),
            ("{O:clan} 집안 출신인 {S}{은/는} 어려서부터 한학을 익혔다.", _W),
            ("{O:country}계 이민자인 {S}{은/는} {X:news_date} 시민권을 취득했다.", _P),
        ),
        minor_share=0.3,
    ),
    Rel(
        "org:place_of_headquarters",
        "hq_org",
        {"LOC": "places"},
        (
            ("{S}{은/는} {O}에 본사를 두고 있다.", _W),
            ("{O}에 본부를 둔 {S}{은/는} {X:news_date} 성명을 발표했다.", _T),
            ("{S}{은/는} {X:news_year} 본사를 {O}{으로/로} 옮겼다.", _T),
            ("{O}에 자리한 {S} 본사 앞에서 {X:news_date} 집회가 열렸다.", _T),
            ("{S}의 본사 소재지는 {O}{이다/다}.", _P),
        ),
    ),
    Rel(
        "per:date_of_birth",
        "people",
        {"DAT": "birth_date"},
        (
            ("{S}{은/는} {O}에 태어났다.", _W),
            ("{S}({O} ~ ){은/는@S} 대한민국의 정치인이다.", _W),
            ("{O}에 출생한 {S}{은/는} 어린 시절부터 음악에 재능을 보였다.", _W),
            ("{S}의 생년월일은 {O}{이다/다}.", _T),
            ("{O}에 태어난 {S}{은/는} {X:news_year} 가수로 데뷔했다.", _T),
        ),
    ),
    Rel(
        "per:alternate_names",
        "people",
        {"PER": "alias"},
        (
            ("{S}{은/는} {O}{이라는/라는} 예명으로 활동했다.", _T),
            ("{O}의 본명은 {S}{이다/다}.", _W),
            ("{S}{은/는} 팬들 사이에서 {O}{으로/로} 불린다.", _T),
            ("{S}의 호는 {O}{이다/다}.", _W),
            ("{O}{이라는/라는} 필명을 쓴 {S}{은/는} {X:news_year} 첫 소설을 발표했다.", _W),
        ),
    ),
    Rel(
        "per:spouse",
        "people",
        {"PER": "people"},
        (
            ("{S}{은/는} {X:news_year} {O}{과/와} 결혼했다.", _W),
            ("{S}의 아내 {O}{은/는} 이날 행사에 함께 참석했다.", _T),
            ("{O}의 남편인 {S}{은/는} 인터뷰에서 가족 이야기를 꺼냈다.", _T),
            ("{S}{과/와} {O} 부부는 {X:news_date} 첫 아이를 얻었다.", _T),
            ("{S}{은/는} 배우자 {O}{을/를} 먼저 떠나보냈다.", _W),
        ),
    ),
    Rel(
        "per:colleagues",
        "people",
        {"PER": "people"},
        (
            ("{S}{은/는} 같은 팀 동료 {O}{과/와} 함께 우승을 이끌었다.", _T),
            ("{S}{과/와} {O}{은/는} 같은 회사에서 오랫동안 함께 일한 동료이다.", _W),
            ("{O}{은/는} 동료인 {S}에 대해 “믿을 수 있는 사람”이라고 말했다.", _T),
            ("{S}{은/는} {X:news_date} 기자회견에서 동료 {O}의 복귀를 환영했다.", _T),
            ("밴드 동료인 {S}{과/와} {O}{은/는} {X:news_year} 함께 곡을 만들었다.", _W),
        ),
    ),
    Rel(
        "per:parents",
        "person",
        {"PER": "people"},
        (
            ("{S}의 아버지 {O:kin@S}{은/는} 평생 농사를 지었다.", _W),
            ("{S}{은/는} {O:kin@S}의 아들로 태어났다.", _W),
            ("{O}{은/는} {S}의 어머니이다.", _T),
            ("{S}{은/는} 어머니 {O}의 영향으로 그림을 시작했다.", _T),
            ("{O:kin@S}{은/는} 아들 {S}의 졸업식에 참석했다.", _T),
        ),
    ),
    Rel(
        "per:children",
        "person",
        {"PER": "kin@S"},
        (
            ("{S}의 아들 {O}{은/는} {X:news_year} 가업을 이어받았다.", _W),
            ("{S}{은/는} 슬하에 딸 {O}{을/를} 두었다.", _W),
            ("{O}{은/는} {S}의 장남이다.", _W),
            ("{S}{은/는} 자녀인 {O}에게 재산을 물려주었다.", _T),
            ("{O}{은/는} 아버지 {S}의 뒤를 이어 정계에 입문했다.", _T),
        ),
    ),
    Rel(
        "per:siblings",
        "person",
        {"PER": "kin@S"},
        (
            ("{S}의 형 {O}{은/는} 프로 야구 선수이다.", _T),
            ("{S}{과/와} {O}{은/는} 자매 사이이다.", _W),
            ("{O}{은/는} 동생 {S}{과/와} 함께 식당을 운영한다.", _T),
            ("{S}{은/는} 누나 {O}의 권유로 연기를 시작했다.", _T),
        ),
    ),
    Rel(
        "per:other_family",
        "person",
        {"PER": "people"},
        (
            ("{S}의 삼촌 {O:kin@S}{은/는} 지역에서 이름난 서예가였다.", _W),
            ("{S}{은/는} 외할아버지 {O}에게서 한학을 배웠다.", _W),
            ("{O}{은/는} {S}의 사촌 형이다.", _T),
            ("{S}의 장인인 {O}{은/는} {X:news_year} 사업을 정리했다.", _T),
            ("{S}{은/는} 조카 {O:kin@S}{과/와} 함께 무대에 올랐다.", _T),
        ),
    ),
    Rel(
        "org:founded",
        "org_found",
        {"DAT": "date_any"},
        (
            ("{S}{은/는} {O}에 설립되었다.", _W),
            ("{O}에 창립한 {S}{은/는} 올해 창립 기념식을 열었다.", _T),
            ("{S}의 창립일은 {O}{이다/다}.", _W),
            ("{O}에 문을 연 {S}{은/는} 지역 대표 기관으로 성장했다.", _P),
            ("{S}{은/는} {O}에 공식 출범했다.", _P),
        ),
    ),
    Rel(
        "org:political/religious_affiliation",
        "affil_org",
        {"ORG": "party", "POH": "ideology"},
        (
            ("{S}{은/는} {O} 계열의 단체이다.", _W),
            ("{O:religion} 재단이 세운 {S}{은/는} 종교 교육을 중시한다.", _W),
            ("{S}{은/는} {O:party}{을/를} 공개적으로 지지해 왔다.", _T),
            ("{S}{은/는} {O:ideology}{을/를} 표방한다.", _W),
            ("{O:relorg} 산하의 {S}{은/는} {X:news_year} 새 건물을 지었다.", _T),
        ),
        minor_share=0.4,
    ),
    Rel(
        "org:founded_by",
        "org_found",
        {"PER": "people", "ORG": "company"},
        (
            ("{S}{은/는} {O}{이/가} 세운 단체이다.", _W),
            ("{O}{은/는} {S}{을/를} 설립해 직접 운영했다.", _W),
            ("{S}의 창립자 {O:people}{은/는} 지금도 경영에 참여하고 있다.", _T),
            ("{O:company}{이/가} 출자해 만든 {S}{은/는} {X:news_date} 첫 사업을 시작했다.", _T),
            ("{S}{은/는} {O:people}{이/가} 사재를 털어 만들었다.", _W),
        ),
        minor_share=0.3,
    ),
    Rel(
        "org:dissolved",
        "org_found",
        {"DAT": "date_any"},
        (
            ("{S}{은/는} {O}에 해산되었다.", _W),
            ("{S}{은/는} {O}에 공식적으로 해체되었다.", _T),
            ("{O}에 폐업한 {S}{은/는} 한때 업계 선두였다.", _T),
            ("{S}{이/가} 문을 닫은 것은 {O}의 일이다.", _W),
        ),
    ),
    Rel(
        "per:schools_attended",
        "people",
        {"ORG": "school"},
        (
            ("{S}{은/는} {O}{을/를} 졸업했다.", _W),
            ("{O}에서 경제학을 전공한 {S}{은/는} {X:news_year} 공직에 들어섰다.", _W),
            ("{S}{은/는} {X:news_year} {O}에 입학했다.", _W),
            ("{S}{은/는} {O}에서 박사 학위를 받았다.", _T),
        ),
    ),
    Rel(
        "per:date_of_death",
        "people",
        {"DAT": "birth_date"},
        (
            ("{S}{은/는} {O}에 세상을 떠났다.", _W),
            ("{S}( ~ {O}){은/는@S} 한국의 학자이다.", _W),
            ("{O}에 별세한 {S}의 장례식이 {X:news_date} 치러졌다.", _T),
            ("{S}{은/는} 오랜 투병 끝에 {O}에 숨을 거두었다.", _T),
            ("{S}{이/가} 사망한 날은 {O}{이다/다}.", _W),
        ),
    ),
    Rel(
        "per:place_of_birth",
        "people",
        {"LOC": "places"},
        (
            ("{S}{은/는} {O}에서 태어났다.", _W),
            ("{O} 출생인 {S}{은/는} 어린 시절을 그곳에서 보냈다.", _W),
            ("{O}에서 태어난 {S}{은/는} {X:news_year} 가족과 함께 이주했다.", _T),
            ("{S}의 출생지는 {O}{이다/다}.", _W),
        ),
    ),
    Rel(
        "per:place_of_death",
        "people",
        {"LOC": "places"},
        (
            ("{S}{은/는} {O}에서 숨졌다.", _W),
            ("{S}{은/는} {O}의 한 병원에서 세상을 떠났다.", _T),
            ("{O}에서 생을 마감한 {S}{은/는} 고향에 묻혔다.", _W),
            ("{S}{이/가} 사망한 곳은 {O}{이다/다}.", _W),
        ),
    ),
    Rel(
        "per:place_of_residence",
        "people",
        {"LOC": "places"},
        (
            ("{S}{은/는} 현재 {O}에 거주하고 있다.", _T),
            ("{O}에 사는 {S}{은/는} 매일 아침 산책을 한다.", _T),
            ("{S}{은/는} {X:news_year}부터 {O}에서 살고 있다.", _W),
            ("{O} 주민인 {S}{은/는} {X:news_date} 열린 공청회에서 의견을 냈다.", _P),
        ),
    ),
    Rel(
        "per:religion",
        "people",
        {"ORG": "relorg", "POH": "religion"},
        (
            ("{S}{은/는} 독실한 {O:religion} 신자이다.", _W),
            ("{S}{은/는} {O:relorg}에 소속된 성직자이다.", _W),
            ("{O} 신앙을 가진 {S}{은/는} 매주 종교 행사에 참석한다.", _T),
            ("{S}{은/는} {X:news_year} {O}{으로/로} 개종했다.", _W),
        ),
        minor_share=0.5,
    ),
    Rel(
        "org:product",
        "company",
        {"POH": "product"},
        (
            ("{S}{은/는} {X:news_date} 신제품 {O}{을/를} 출시했다.", _T),
            ("{O}{은/는} {S}{이/가} 만든 제품이다.", _W),
            ("{S}의 대표 상품인 {O}{은/는} 해외에서도 인기가 높다.", _T),
            ("{S}{이/가} 생산하는 {O}의 판매량이 크게 늘었다.", _T),
            ("{O} 제조사인 {S}{은/는} 생산 시설을 확충하기로 했다.", _P),
        ),
    ),
    Rel(
        "per:product",
        "people",
        {"POH": "work"},
        (
            ("{S}{은/는} {X:news_year} {O}{을/를} 발표했다.", _W),
            ("{O}{은/는} {S}{이/가} 쓴 작품이다.", _W),
            ("{S}의 대표작으로는 {O}{이/가} 있다.", _W),
            ("{S}{이/가} 연출한 {O}{은/는} {X:award}{을/를} 받았다.", _T),
        ),
    ),
    Rel(
        "org:number_of_employees/members",
        "num_org",
        {"NOH": "headcount"},
        (
            ("{S}의 임직원 수는 {O}에 이른다.", _T),
            ("{S}{은/는} {O}의 회원을 보유하고 있다.", _W),
            ("{O}{이/가} 일하는 {S}{은/는} 지역 최대 고용주이다.", _P),
            ("{X:news_date} 기준 {S}의 직원은 {O}{이다/다}.", _P),
        ),
    ),
)

#: Plain no_relation templates: two entities, no KLUE relation between them.
_NO_RELATION_TEMPLATES: tuple[tuple[str, int], ...] = (
    ("{S:people}{은/는} 토론회에서 {O:people}의 주장을 정면으로 반박했다.", _T),
    ("{S:people}{은/는} {O:people}{을/를} 만나 환담을 나눴다.", _P),
    ("{S:people}{은/는} {O:org_lead}의 정책을 강하게 비판했다.", _T),
    ("{S:people}{은/는} {O:company}{을/를} 상대로 소송을 제기했다.", _T),
    ("{S:people}{은/는} {O:media}{과/와}의 인터뷰에서 새 계획을 밝혔다.", _T),
    ("{S:people}{은/는} 휴가차 {O:places}{을/를} 방문했다.", _T),
    ("{O:city}에서 열린 경기에서 {S:people}{은/는} 결승골을 넣었다.", _T),
    ("{S:people}{은/는} {O:date}에 기자회견을 열었다.", _T),
    ("{S:people}{은/는} {O:work}{을/를} 감명 깊게 읽었다고 말했다.", _W),
    ("{S:people}{은/는} {O:award}{을/를} 받았다.", _W),
    ("{S:people}{은/는} {O:title} 자리를 끝내 거절했다.", _T),
    ("{S:people}{은/는} {O:event}에 참가해 좋은 성적을 거뒀다.", _T),
    ("올해 {O:age}인 {S:people}{은/는} 은퇴를 선언했다.", _T),
    ("{S:people}{은/는} 장학금으로 {O:amount}{을/를} 기부했다.", _P),
    ("{S:org_lead}{은/는} {O:org_lead}{과/와} 업무 협약을 맺었다.", _P),
    ("{O:company}{은/는} {S:company}{과/와}의 경쟁에서 밀렸다.", _T),
    ("{S:company}{은/는} {O:places} 시장 진출을 검토하고 있다.", _T),
    ("{S:org_lead}{은/는} {O:date}에 정기 총회를 개최했다.", _P),
    ("{S:company}{은/는} 영화 {O:work}의 투자에 참여했다.", _T),
    ("{S:org_lead}{은/는} {O:award}{을/를} 수상했다.", _P),
    ("{S:company}{은/는} 지난해 {O:amount}의 영업이익을 기록했다.", _T),
    ("{S:company}의 주가는 하루 만에 {O:percent} 올랐다.", _T),
    ("{S:agency}{은/는} {O:people}에게 감사패를 전달했다.", _P),
    ("{O:people}{은/는} {S:company}의 제품을 즐겨 쓴다고 밝혔다.", _T),
    ("{S:agency}{은/는} {O:event} 준비 상황을 점검했다.", _P),
)

#: Legitimate object types per label (no_relation: any). Subject types follow the label prefix.
RELATION_OBJECT_TYPES: dict[str, tuple[str, ...]] = {NO_RELATION: tuple(TYPES)} | {
    r.label: tuple(r.obj) for r in _RELATIONS
}

_SLOT_RE = re.compile(r"\{([^{}]*)\}")
MAX_SLOTS = 4


@dataclass(frozen=True)
class Variant:
    """A template with its object type fixed: one class (and optional tie) per slot."""

    obj_type: int
    classes: tuple[str, ...]
    ties: tuple[tuple[str, int] | None, ...]  # ("pair" | "kin", slot index it follows)
    order: tuple[int, ...]  # sampling order: untied slots first
    alt_pairs: tuple[tuple[int, int], ...]  # unrelated (subject slot, object slot) pairs


@dataclass(frozen=True)
class Template:
    label: int
    text: str
    source: int
    slot_names: tuple[str, ...]
    # parts: ("lit", text) | ("slot", k) | ("josa", k, after_batchim, after_vowel, is_ro)
    parts: tuple[tuple[Any, ...], ...]
    variants: tuple[Variant, ...]

    @property
    def s(self) -> int:
        return self.slot_names.index("S")

    @property
    def o(self) -> int:
        return self.slot_names.index("O")


def _compile(label: str, text: str, source: int, rel: Rel | None) -> Template:
    names: list[str] = []
    inline: dict[str, str] = {}
    parts: list[tuple[Any, ...]] = []
    pos = 0
    last_slot: int | None = None
    for m in _SLOT_RE.finditer(text):
        if m.start() > pos:
            parts.append(("lit", text[pos : m.start()]))
        body = m.group(1)
        if "/" in body:
            forms, _, ref = body.partition("@")
            after_batchim, after_vowel = forms.split("/")
            k = names.index(ref) if ref else last_slot
            if k is None:
                raise AssertionError(f"demo template {text!r}: particle before any entity")
            parts.append(("josa", k, after_batchim, after_vowel, after_batchim.startswith("으")))
        else:
            name, _, cls = body.partition(":")
            if name in names:
                raise AssertionError(f"demo template {text!r}: slot {name} twice")
            names.append(name)
            if cls:
                inline[name] = cls
            last_slot = len(names) - 1
            parts.append(("slot", last_slot))
        pos = m.end()
    if pos < len(text):
        parts.append(("lit", text[pos:]))
    if "S" not in names or "O" not in names or len(names) > MAX_SLOTS:
        raise AssertionError(f"demo template {text!r}: needs S and O, at most {MAX_SLOTS} slots")

    if rel is None:  # no_relation template: every slot named inline
        options = [{n: inline[n] for n in names}]
    elif "O" in inline:
        options = [{**{"S": rel.subj}, **inline}]
    else:
        options = [{**{"S": rel.subj, "O": obj_cls}, **inline} for obj_cls in rel.obj.values()]

    variants = []
    for opt in options:
        classes, ties = [], []
        for n in names:
            cls, _, ref = opt[n].partition("@")
            classes.append(cls)
            ties.append(("kin" if cls == "kin" else "pair", names.index(ref)) if ref else None)
        classes = ["person" if c == "kin" else c for c in classes]
        for k, tie in enumerate(ties):
            if tie and tie[0] == "kin" and classes[tie[1]] != "person":
                raise AssertionError(f"demo template {text!r}: a relative needs a Korean person")
            if tie and tie[0] == "pair" and (classes[k], classes[tie[1]]) != ("orgabbr", "orgfull"):
                raise AssertionError(f"demo template {text!r}: unknown tie {classes[k]}@{classes[tie[1]]}")
        types = [LEX.class_type[c] for c in classes]
        s, o = names.index("S"), names.index("O")
        if rel is not None and TYPES[types[o]] not in rel.obj:
            raise AssertionError(f"demo template {text!r}: object type not legitimate for {label}")
        alt = tuple(
            (a, b)
            for a in range(len(names))
            for b in range(len(names))
            if a != b and {a, b} != {s, o} and types[a] in (TYPE_CODE["PER"], TYPE_CODE["ORG"]) and rel is not None
        )
        order = tuple(k for k in range(len(names)) if ties[k] is None) + tuple(
            k for k in range(len(names)) if ties[k] is not None
        )
        variants.append(Variant(types[o], tuple(classes), tuple(ties), order, alt))
    return Template(LABEL_CODE[label], text, source, tuple(names), tuple(parts), tuple(variants))


def _compile_all() -> tuple[Template, ...]:
    out = [_compile(r.label, text, src, r) for r in _RELATIONS for text, src in r.templates]
    out += [_compile(NO_RELATION, text, src, None) for text, src in _NO_RELATION_TEMPLATES]
    texts = [t.text for t in out]
    if len(set(texts)) != len(texts):
        raise AssertionError("demo templates: two templates have the same text")
    for t in out:
        if t.label != NR and t.variants[0].classes[t.s] not in LEX.classes:
            raise AssertionError(f"demo template {t.text!r}: unknown class")
        prefix_type = "ORG" if KLUE_LABELS[t.label].startswith("org:") else "PER"
        if t.label != NR and LEX.class_type[t.variants[0].classes[t.s]] != TYPE_CODE[prefix_type]:
            raise AssertionError(f"demo template {t.text!r}: subject type does not fit the label")
    return tuple(out)


TEMPLATES = _compile_all()
REL_BY_LABEL: dict[int, Rel] = {LABEL_CODE[r.label]: r for r in _RELATIONS}
if sorted(REL_BY_LABEL) != [i for i in range(len(KLUE_LABELS)) if i != NR]:
    raise AssertionError("demo relations must cover every KLUE relation exactly once")
