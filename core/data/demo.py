"""The seeded synthetic Korean demo dataset, in the KLUE-RE competition CSV format.

RE Studio embeds this dataset as its default data: every later feature (loading, the audit, training a
small model, confident-learning label-error detection, scoring) is exercised on it. It therefore has to
look like the real competition data and be learnable:

- all 30 KLUE labels with a KLUE-like imbalance (``no_relation`` about 30 %, a long tail, but every label
  with enough rows for a stratified dev split);
- Korean sentences from several relation-specific templates per label, the subject before or after the
  object, particles (은/는, 이/가, ...) chosen by the final sound of the entity, entity words that contain
  quotes, commas and brackets;
- ``no_relation`` rows from their own templates and from relation sentences marked on another,
  unrelated entity pair, as in the real data;
- character-exact offsets (``sentence[start_idx:end_idx + 1] == word``, end inclusive);
- a test set with a larger ``no_relation`` share and more POH objects than train, sharing some sentences
  (under other entity pairs) and a few exact triples with train;
- train errors injected on purpose and listed in ``manifest.json`` (entity-type flips, exact duplicates,
  label conflicts, offset errors, random label flips), so that detectors can be checked against the truth.

Why hand-written: no library generates KLUE-format relation data; the row generator is vectorised with
numpy (``StringDType`` string arithmetic, one pass per template) because the benchmark builds a
1,000,000-row file from it and a per-row Python loop would be several times slower. Everything is drawn
from one ``numpy`` seed, so the same seed writes the same bytes.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from numpy.dtypes import StringDType

from core.common.atomic import atomic_write_text
from core.common.schema import (
    KLUE_LABELS,
    KLUE_OBJECT_TYPES,
    KLUE_SOURCES,
    NO_RELATION,
    UNLABELED_TEST_LABEL,
    DataError,
)

__all__ = [
    "COMPETITION_COLUMNS",
    "RELATION_OBJECT_TYPES",
    "DemoManifest",
    "Duplicate",
    "LabelConflict",
    "LabelFlip",
    "OffsetError",
    "TypeFlip",
    "generate_rows",
    "load_manifest",
    "write_demo_dataset",
    "write_large_csv",
]

#: Columns of the competition CSV, in file order.
COMPETITION_COLUMNS: tuple[str, ...] = (
    "id",
    "sentence",
    "subject_entity",
    "object_entity",
    "label",
    "source",
)

_STR = StringDType()
_TYPES: tuple[str, ...] = KLUE_OBJECT_TYPES  # PER, ORG, LOC, DAT, POH, NOH: the type codes used below
_TYPE_CODE: dict[str, int] = {t: i for i, t in enumerate(_TYPES)}
_LABEL_CODE: dict[str, int] = {label: i for i, label in enumerate(KLUE_LABELS)}
_NR = _LABEL_CODE[NO_RELATION]
_MAX_SLOTS = 4

# ----------------------------------------------------------------------------------------------------
# Lexicons. Entity words per class; a class has one entity type. Persons are built surname x given name
# so that family templates can draw a relative with the same surname (index = surname * G + given).
# ----------------------------------------------------------------------------------------------------


def _split(text: str, sep: str = "|") -> list[str]:
    """Entity words separated by ``|`` (words may contain spaces, commas and quotes)."""
    return [w.strip() for w in text.split(sep) if w.strip()]


_SURNAMES = _split("김 이 박 최 정 강 조 윤 장 임 한 오 서 신 권 황 안 송 류 전 홍 고 문 양 손 배 백 허 남 노", " ")
_GIVEN = _split(
    "민준 서연 지훈 하은 도윤 수빈 현우 지민 예준 서윤 준호 채원 성민 유진 동현 민서 재원 수아 태현 다은 "
    "영수 미경 상철 은지 정훈 혜진 승우 지영 경민 소연 병철 선희 기현 나연 진우 가영 세훈 보람 형준 미란 "
    "대성 윤희 종민 수정 재석 은영 광수 정숙 용호 하늘 건우 시우 주원 서진 민재 예린 한결 지호 우진 나래",
    " ",
)


_LEXICON_TEXT: dict[str, tuple[str, str]] = {
    # class: (type, words)
    "person_intl": (
        "PER",
        "Liam O'Neil|Siobhan O'Hara|Jean-Pierre D'Arcy|존 스미스|마리아 곤살레스|다나카 하루키|왕웨이|"
        "알렉산더 페트로프|에밀리 브라운|응우옌 반 안|하산 알리|소피 마르탱",
    ),
    "alias": (
        "PER",
        "충무공|율곡|퇴계|다산|백범|도산|단원|혜원|송강|고산|매월당|연암|추사|만해|소파|하늘별|달빛소년|"
        "DJ 로켓|MC 몽글|리틀 킹|바람의 아들|나비|초롱|'작은 거인'|\"국민 MC\"|'피겨 여왕'|철의 여인|"
        "한밤의 시인|골목대장|해맑은",
    ),
    "company": (
        "ORG",
        "삼성전자(주)|현대자동차|카카오|네이버|농심|한빛전자|누리소프트|대한해운|청솔제약|푸른바이오|"
        "미래모빌리티|한결식품|새벽출판사|동해조선|가람건설|온누리통신|다온화장품|하나로물산|"
        "별빛엔터테인먼트|한울에너지|서라벌제과|태극제약|보람상사|은하전자|솔빛반도체|초록유통|우리텍|"
        "나래항공|아라해운|빛고을자동차|그린케미칼|한강바이오|백두중공업|노을게임즈|해오름식품|(주)다솜|"
        "새봄물류|참빛전력|누리미디어|한마음금융",
    ),
    "agency": (
        "ORG",
        "기획재정부|국토교통부|교육부|보건복지부|행정안전부|문화체육관광부|외교부|국방부|통계청|기상청|"
        "경찰청|산림청|특허청|질병관리청|서울특별시청|부산광역시청|대법원|헌법재판소|한국전력공사|"
        "한국토지주택공사|국민건강보험공단|한국은행|공정거래위원회|금융감독원|국가정보원|한국개발연구원",
    ),
    "media": (
        "ORG",
        "KBS|MBC|SBS|JTBC|연합뉴스|조선일보|동아일보|중앙일보|한겨레|경향신문|한국일보|매일경제|BBC|CNN|"
        "뉴욕 타임스|NHK|로이터|AP 통신|YTN|뉴스1",
    ),
    "school": (
        "ORG",
        "서울대학교|연세대학교|고려대학교|한국과학기술원|포항공과대학교|성균관대학교|한양대학교|"
        "이화여자대학교|서강대학교|중앙대학교|경희대학교|동국대학교|부산대학교|경북대학교|전남대학교|"
        "충남대학교|하버드 대학교|옥스퍼드 대학교|스탠퍼드 대학교|도쿄 대학|베이징 대학|"
        "매사추세츠 공과대학교|경기고등학교|서울예술고등학교|숙명여자고등학교|경북고등학교|"
        "한국예술종합학교|서울교육대학교|육군사관학교|한국외국어대학교",
    ),
    "party": (
        "ORG",
        "더불어민주당|국민의힘|정의당|기본소득당|진보당|녹색당|새누리당|한나라당|민주자유당|열린우리당|"
        "미국 민주당|미국 공화당|영국 노동당|일본 자유민주당|독일 사회민주당",
    ),
    "relorg": (
        "ORG",
        "대한불교조계종|대한불교천태종|천주교 서울대교구|한국기독교장로회|대한예수교장로회|"
        "기독교대한감리회|원불교|천도교|대한성공회|여의도순복음교회|한국이슬람교중앙회|증산도",
    ),
    "club": (
        "ORG",
        "FC 서울|전북 현대 모터스|울산 HD|수원 삼성 블루윙즈|포항 스틸러스|대전 하나 시티즌|LG 트윈스|"
        "두산 베어스|삼성 라이온즈|KIA 타이거즈|한화 이글스|롯데 자이언츠|NC 다이노스|SSG 랜더스|"
        "토트넘 홋스퍼|맨체스터 유나이티드|레알 마드리드|FC 바르셀로나|바이에른 뮌헨|파리 생제르맹|"
        "서울 SK 나이츠|원주 DB 프로미|흥국생명 핑크스파이더스",
    ),
    "band": (
        "ORG",
        "비틀즈|퀸|롤링 스톤스|Guns N' Roses|방탄소년단|블랙핑크|레드벨벳|동방신기|빅뱅|소녀시대|산울림|"
        "들국화|부활|넥스트|자우림|봄여름가을겨울|잔나비|새소년|혁오|세븐틴",
    ),
    "league": (
        "ORG",
        "K리그1|KBO 리그|프리미어 리그|메이저 리그 베이스볼|한국프로농구연맹|대한축구협회|대한체육회|"
        "전국경제인연합회|한국경영자총협회|대한상공회의소|전국민주노동조합총연맹|한국노동조합총연맹|"
        "한국기자협회|대한의사협회|대한변호사협회|한국여자배구연맹|아시아축구연맹|한국무역협회|"
        "중소기업중앙회|대한건축학회",
    ),
    "intl": (
        "ORG",
        "국제연합|세계보건기구|국제통화기금|유럽연합|북대서양 조약 기구|동남아시아 국가 연합|"
        "국제올림픽위원회|국제축구연맹|경제협력개발기구|세계무역기구|아프리카 연합|석유수출국기구|"
        "국제노동기구|국제원자력기구|유네스코|세계은행|국제적십자위원회|아시아개발은행|주요 20개국|"
        "국제해사기구",
    ),
    "clan": (
        "ORG",
        "안동 김씨|전주 이씨|밀양 박씨|경주 최씨|김해 김씨|파평 윤씨|남양 홍씨|광산 김씨|청주 한씨|"
        "진주 강씨|경주 이씨|해주 오씨|평산 신씨|여흥 민씨|반남 박씨|동래 정씨|풍산 류씨|창녕 조씨|"
        "의령 남씨|나주 임씨",
    ),
    "country": (
        "LOC",
        "대한민국|미국|일본|중국|프랑스|독일|영국|러시아|캐나다|호주|브라질|인도|베트남|태국|필리핀|"
        "이탈리아|스페인|멕시코|이집트|튀르키예|몽골|스웨덴|노르웨이|네덜란드|폴란드|아르헨티나|칠레|"
        "페루|케냐|남아프리카 공화국|뉴질랜드|인도네시아|말레이시아|싱가포르|우즈베키스탄|카자흐스탄|"
        "이란|사우디아라비아|그리스|포르투갈|핀란드|덴마크|스위스|오스트리아|벨기에|아일랜드|쿠바|콜롬비아",
    ),
    "city": (
        "LOC",
        "서울|부산|인천|대구|광주|대전|울산|수원|전주|경주|안동|제주|강릉|춘천|청주|포항|창원|목포|여수|"
        "평양|개성|도쿄|오사카|교토|베이징|상하이|홍콩|타이베이|하노이|방콕|뉴욕|로스앤젤레스|시카고|"
        "샌프란시스코|워싱턴 D.C.|파리|런던|베를린|뮌헨|로마|마드리드|바르셀로나|모스크바|시드니|토론토|"
        "밴쿠버|경기도 성남시|서울 종로구|서울 강남구|부산 해운대구|충청남도 공주시|전라남도 순천시|"
        "경상북도 안동시|강원도 원주시|제주도 서귀포시|인천 송도|대구 수성구|광주 북구",
    ),
    "title": (
        "POH",
        "대표이사|회장|사장|부회장|감독|코치|주장|가수|배우|작가|시인|소설가|교수|총장|국회의원|장관|"
        "차관|대통령|국무총리|시장|도지사|대변인|위원장|사무총장|최고경영자|이사장|원장|편집장|기자|앵커|"
        "아나운서|화가|작곡가|프로듀서|바둑 기사|축구 선수|야구 선수|판사|검사|변호사|대법관|외교관|대사|"
        "연구원|의사|건축가|영화감독|무용가|사진작가|지휘자",
    ),
    "work": (
        "POH",
        "《토지》|《태백산맥》|《해리 포터와 마법사의 돌》|'기생충'|\"Let It Be\"|"
        "《난장이가 쏘아올린 작은 공》|"
        "《82년생 김지영》|《채식주의자》|《무정》|《님의 침묵》|〈별 헤는 밤〉|《올드보이》|《괴물》|"
        "《살인의 추억》|《미나리》|《오징어 게임》|《겨울연가》|《대장금》|'Dynamite'|'강남스타일'|"
        '"Yesterday"|《어린 왕자》|《광장》|《소나기》|《나, 다니엘 블레이크》|"Hello, Goodbye"|'
        "\"Rock 'n' Roll Star\"|《엄마를 부탁해》|《소년이 온다》|《파친코》|《서편제》|《왕의 남자》|"
        "《부산행》|《응답하라 1988》|《사랑의 불시착》|《무한도전》|'아리랑'|'봄날'|'밤양갱'|《혼불》|"
        "《난중일기》|《홍길동전》|《구운몽》|《춘향전》|《운수 좋은 날》|《메밀꽃 필 무렵》|《진달래꽃》|"
        "《상록수》|《바람의 노래》|《푸른 언덕》|《마지막 편지》|《여름의 끝》|《시간의 강》|《달빛 정원》|"
        "《기억의 방》|《붉은 노을》|《겨울 나그네》|《작은 새의 꿈》|《안개 도시》|《별을 세는 밤》",
    ),
    "product": (
        "POH",
        "갤럭시 S24|아이폰 15|쏘나타|아반떼|그랜저|신라면|초코파이|카카오톡|박카스|참이슬|빼빼로|"
        "허니버터칩|바나나맛 우유|불닭볶음면|테라|갤럭시 Z 플립|아이오닉 5|K5|스포티지|싼타페|비비고 만두|"
        "누리패드|한빛폰 X|솔빛 SSD 990|별빛 이어폰|가람 정수기|은하 냉장고 Q9|한결 김치|서라벌 약과|"
        "노을 레이서|다온 수분크림|태극 소화제|초록 주스|온누리 요금제|그린 배터리 3|백두 굴착기|"
        "해오름 라면|아라 크루즈|빛고을 버스|나래 에어 A1",
    ),
    "religion": (
        "POH",
        "불교|천주교|개신교|기독교|이슬람교|유교|힌두교|유대교|도교|정교회|시크교|무속 신앙",
    ),
    "ideology": (
        "POH",
        "사회민주주의|자유주의|보수주의|민족주의|공산주의|진보주의|녹색 정치|자유지상주의|사회주의|"
        "중도주의|평화주의|민주사회주의",
    ),
    "award": (
        "POH",
        "노벨 평화상|노벨 문학상|청룡영화상|백상예술대상|대종상|골든글로브상|그래미상|"
        "칸 영화제 황금종려상|아카데미 작품상|이상문학상|동인문학상|부커상|퓰리처상|황조근정훈장|"
        "국민훈장 무궁화장|올해의 기업인상|대한민국 과학기술상|호암상|한국가요대상|대한민국 예술원상",
    ),
    "event": (
        "POH",
        "2002 FIFA 월드컵|서울 올림픽|평창 동계 올림픽|부산 국제 영화제|광주 비엔날레|전국체육대회|"
        "아시안 게임|세계 육상 선수권 대회|도쿄 올림픽|전주 국제 영화제|서울 마라톤|한국 시리즈|"
        "세계 바둑 오픈|대학가요제|지방선거",
    ),
}

# Full name -> short name, index-aligned, for org:alternate_names (both ORG).
_ORG_ALIASES: list[tuple[str, str]] = [
    (full, short)
    for full, short in (
        pair.split("=")
        for pair in _split(
            "국제연합=유엔|세계보건기구=WHO|국제통화기금=IMF|경제협력개발기구=OECD|북대서양 조약 기구=나토|"
            "동남아시아 국가 연합=아세안|국제올림픽위원회=IOC|국제축구연맹=FIFA|세계무역기구=WTO|"
            "석유수출국기구=OPEC|국제노동기구=ILO|국제원자력기구=IAEA|유럽연합=EU|한국방송공사=KBS|"
            "문화방송=MBC|한국과학기술원=카이스트|포항공과대학교=포스텍|전국경제인연합회=전경련|"
            "전국민주노동조합총연맹=민주노총|한국노동조합총연맹=한국노총|한국토지주택공사=LH|"
            "한국전력공사=한전|국민건강보험공단=건보공단|서울대학교=서울대|연세대학교=연대|고려대학교=고대|"
            "더불어민주당=민주당|방탄소년단=BTS|미국 항공우주국=NASA|국가정보원=국정원|헌법재판소=헌재|"
            "공정거래위원회=공정위|금융감독원=금감원|한국은행=한은|대한축구협회=KFA|한국개발연구원=KDI|"
            "질병관리청=질병청|삼성전자(주)=삼성전자|한국외국어대학교=한국외대|한국예술종합학교=한예종|"
            "대한상공회의소=대한상의|중소기업중앙회=중기중앙회|한국프로농구연맹=KBL|매사추세츠 공과대학교=MIT"
        )
    )
]
_ORG_ALIASES += [
    (f"{p}대학교", f"{p}대")
    for p in _split("강원 경북 경상 전북 전남 충북 충남 제주 부산 인천 창원 목포 순천 안동 공주 군산 강릉 원주", " ")
]
_ORG_ALIASES += [
    (f"{p}상공회의소", f"{p}상의") for p in _split("서울 부산 인천 대구 광주 대전 울산 수원 청주 창원", " ")
]


def _numeric_classes() -> dict[str, tuple[str, list[str]]]:
    """Dates and numerals, built by fixed arithmetic (no RNG) so the lexicon never depends on a seed."""
    dates: dict[str, None] = {}
    for y in range(1350, 2024):
        for m, d in (((y * 7) % 12 + 1, (y * 13) % 28 + 1), ((y * 5 + 3) % 12 + 1, (y * 17 + 5) % 28 + 1)):
            dates[f"{y}년 {m}월 {d}일"] = None
    for y in range(1990, 2024):  # recent years get a date in every month: news contexts draw from them
        for m in range(1, 13):
            dates[f"{y}년 {m}월 {(y * m * 7) % 28 + 1}일"] = None
    years = [f"{y}년" for y in range(1850, 2024)]
    # Context dates of news-like sentences (briefings, launches) stay recent.
    news_dates = [d for d in dates if int(d[:4]) >= 1990]
    news_years = [y for y in years if int(y[:4]) >= 1950]
    months: dict[str, None] = {}
    for y in range(1950, 2024):
        for m in ((y * 3) % 12 + 1, (y * 7 + 5) % 12 + 1):
            months[f"{y}년 {m}월"] = None
    counts: dict[str, None] = {}
    for i in range(150):
        k = 30 * 1.065**i
        k = int(round(k, -math.floor(math.log10(k)) + 1))  # two significant digits
        counts[f"{k:,}명"] = None
        if k >= 20000 and k % 10000 == 0:
            counts[f"{k // 10000}만 명"] = None
    ages = [f"{a}세" for a in range(18, 100)]
    amounts = [f"{k}억 원" for k in (3, 5, 12, 30, 45, 80, 120, 250, 500, 700, 1200, 3000, 5000)]
    amounts += [f"{k}조 원" for k in (1, 2, 3, 5, 8, 12, 20, 35)]
    amounts += [f"{k:,}달러" for k in (500, 1200, 50000, 2500000, 7000000)]
    percents = [f"{p}%" for p in range(1, 61)] + [f"{p}.5%" for p in range(1, 21)]
    return {
        "date": ("DAT", list(dates)),
        "year": ("DAT", years),
        "news_date": ("DAT", news_dates),
        "news_year": ("DAT", news_years),
        "month": ("DAT", list(months)),
        "headcount": ("NOH", list(counts)),
        "age": ("NOH", ages),
        "amount": ("NOH", amounts),
        "percent": ("NOH", percents),
    }


#: Unions of base classes, used as slot classes in the templates.
_UNIONS: dict[str, tuple[str, ...]] = {
    "people": ("person", "person_intl"),
    "org_lead": ("company", "agency", "media", "school", "party", "club", "band", "league", "intl"),
    "employer": ("company", "agency", "media", "school", "club"),
    "member_org": ("club", "company", "school", "media"),
    "body": ("league", "intl"),
    "hq_org": ("company", "agency", "intl", "club", "media", "league"),
    "org_found": ("company", "school", "media", "club", "band", "party", "league"),
    "affil_org": ("school", "media", "party", "league"),
    "num_org": ("company", "league", "party", "agency"),
    "places": ("country", "city"),
    "date_any": ("date", "year", "month"),
    "birth_date": ("date", "year"),
}

_DIGIT_SOUND = {  # final sound of the Korean reading of a digit: (has batchim, batchim is ㄹ)
    "0": (True, False),  # 영
    "1": (True, True),  # 일
    "2": (False, False),  # 이
    "3": (True, False),  # 삼
    "4": (False, False),  # 사
    "5": (False, False),  # 오
    "6": (True, False),  # 육
    "7": (True, True),  # 칠
    "8": (True, True),  # 팔
    "9": (False, False),  # 구
}


def _final_sound(word: str) -> tuple[bool, bool]:
    """Whether the reading of ``word`` ends in a final consonant (batchim), and whether that is ㄹ.

    Korean particles depend on it (은/는, 이/가, 을/를, 과/와, 으로/로). Closing quotes and brackets are
    skipped (``《토지》는``); digits and Latin words are read the Korean way, approximately.
    """
    for i in range(len(word) - 1, -1, -1):
        ch = word[i]
        if ch == "%":  # 퍼센트
            return False, False
        if "가" <= ch <= "힣":
            jong = (ord(ch) - 0xAC00) % 28
            return jong != 0, jong == 8
        if ch in _DIGIT_SOUND:
            return _DIGIT_SOUND[ch]
        if ch.isascii() and ch.isalpha():
            j = i
            while j > 0 and word[j - 1].isascii() and word[j - 1].isalpha():
                j -= 1
            run = word[j : i + 1]
            if run.isupper():  # an acronym is read letter by letter: 엘 (ㄹ), 엠 and 엔 end in batchim
                return ch in "LMN", ch == "L"
            low = run.lower()
            if low.endswith("l"):
                return True, True
            return low.endswith("ng") or low[-1] in "mnkpb", False
    return False, False


@dataclass(frozen=True)
class _Lexicon:
    words: tuple[str, ...]
    word_arr: np.ndarray  # StringDType
    repr_arr: np.ndarray  # StringDType, Python repr of each word (as it appears in the entity dict)
    length: np.ndarray  # int64, characters
    type_code: np.ndarray  # int8
    batchim: np.ndarray  # bool
    rieul: np.ndarray  # bool
    classes: dict[str, np.ndarray]  # class -> global word ids (int32)
    class_type: dict[str, int]


def _build_lexicon() -> _Lexicon:
    base: dict[str, tuple[str, list[str]]] = {
        "person": ("PER", [s + g for s in _SURNAMES for g in _GIVEN]),
    }
    base.update({name: (typ, _split(text)) for name, (typ, text) in _LEXICON_TEXT.items()})
    base["orgfull"] = ("ORG", [full for full, _ in _ORG_ALIASES])
    base["orgabbr"] = ("ORG", [short for _, short in _ORG_ALIASES])
    base.update(_numeric_classes())

    words: list[str] = []
    types: list[int] = []
    gid_of: dict[str, int] = {}
    classes: dict[str, np.ndarray] = {}
    class_type: dict[str, int] = {}
    for name, (typ, members) in base.items():
        code = _TYPE_CODE[typ]
        ids = []
        for w in members:
            if w not in gid_of:
                gid_of[w] = len(words)
                words.append(w)
                types.append(code)
            elif types[gid_of[w]] != code:  # one word, one type: else a sentence could carry two readings
                raise AssertionError(f"demo lexicon: {w!r} has two entity types")
            ids.append(gid_of[w])
        if len(set(ids)) != len(ids):
            raise AssertionError(f"demo lexicon: class {name!r} repeats a word")
        classes[name] = np.asarray(ids, dtype=np.int32)
        class_type[name] = code
    for name, parts in _UNIONS.items():
        ids_u = np.concatenate([classes[p] for p in parts])
        classes[name] = np.asarray(list(dict.fromkeys(ids_u.tolist())), dtype=np.int32)
        codes = {class_type[p] for p in parts}
        if len(codes) != 1:
            raise AssertionError(f"demo lexicon: union {name!r} mixes entity types")
        class_type[name] = codes.pop()
    sounds = [_final_sound(w) for w in words]
    return _Lexicon(
        words=tuple(words),
        word_arr=np.asarray(words, dtype=_STR),
        repr_arr=np.asarray([repr(w) for w in words], dtype=_STR),
        length=np.asarray([len(w) for w in words], dtype=np.int64),
        type_code=np.asarray(types, dtype=np.int8),
        batchim=np.asarray([s[0] for s in sounds], dtype=bool),
        rieul=np.asarray([s[1] for s in sounds], dtype=bool),
        classes=classes,
        class_type=class_type,
    )


_LEX = _build_lexicon()
_N_GIVEN = len(_GIVEN)

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
class _Rel:
    label: str
    subj: str
    obj: dict[str, str]  # object type -> slot class
    templates: tuple[tuple[str, int], ...]
    minor_share: float = 0.0  # share of the second object type in ``obj`` (two-type relations)


_RELATIONS: tuple[_Rel, ...] = (
    _Rel(
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
    _Rel(
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
    _Rel(
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
    _Rel(
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
    _Rel(
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
    _Rel(
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
    _Rel(
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
    _Rel(
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
    _Rel(
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
    _Rel(
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
    _Rel(
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
    _Rel(
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
    _Rel(
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
    _Rel(
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
    _Rel(
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
    _Rel(
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
    _Rel(
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
    _Rel(
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
    _Rel(
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
    _Rel(
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
    _Rel(
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
    _Rel(
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
    _Rel(
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
    _Rel(
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
    _Rel(
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
    _Rel(
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
    _Rel(
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
    _Rel(
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
    _Rel(
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
RELATION_OBJECT_TYPES: dict[str, tuple[str, ...]] = {NO_RELATION: tuple(_TYPES)} | {
    r.label: tuple(r.obj) for r in _RELATIONS
}

# Approximate label counts of the competition train set (32,470 rows), used only as relative weights.
_KLUE_TRAIN_COUNTS: dict[str, int] = {
    "no_relation": 9534,
    "org:top_members/employees": 4284,
    "org:members": 420,
    "org:product": 380,
    "per:title": 2103,
    "org:alternate_names": 1320,
    "per:employee_of": 3573,
    "org:place_of_headquarters": 1195,
    "per:product": 139,
    "org:number_of_employees/members": 48,
    "per:children": 304,
    "per:place_of_residence": 193,
    "per:alternate_names": 1001,
    "per:other_family": 190,
    "per:colleagues": 534,
    "per:origin": 1234,
    "per:siblings": 136,
    "per:spouse": 795,
    "org:founded": 450,
    "org:political/religious_affiliation": 98,
    "org:member_of": 1866,
    "per:parents": 520,
    "org:dissolved": 66,
    "per:schools_attended": 82,
    "per:date_of_death": 418,
    "per:date_of_birth": 1130,
    "per:place_of_birth": 166,
    "per:place_of_death": 40,
    "org:founded_by": 155,
    "per:religion": 96,
}

_SOURCE_AFFINITY = 0.75  # share of a template's rows that carry its usual source
_DERIVED_SHARE = 0.25  # share of no_relation rows marked on an unrelated pair of a relation sentence
_MIN_TYPE_SHARE = 0.15  # floor for each legitimate object type of a two-type relation
_FLOOR_SHARE = 0.006  # each relation gets at least this share of rows (18 of 3,000)

_SLOT_RE = re.compile(r"\{([^{}]*)\}")


@dataclass(frozen=True)
class _Variant:
    """A template with its object type fixed: one class (and optional tie) per slot."""

    obj_type: int
    classes: tuple[str, ...]
    ties: tuple[tuple[str, int] | None, ...]  # ("pair" | "kin", slot index it follows)
    order: tuple[int, ...]  # sampling order: untied slots first
    alt_pairs: tuple[tuple[int, int], ...]  # unrelated (subject slot, object slot) pairs


@dataclass(frozen=True)
class _Template:
    label: int
    text: str
    source: int
    slot_names: tuple[str, ...]
    # parts: ("lit", text) | ("slot", k) | ("josa", k, after_batchim, after_vowel, is_ro)
    parts: tuple[tuple[Any, ...], ...]
    variants: tuple[_Variant, ...]

    @property
    def s(self) -> int:
        return self.slot_names.index("S")

    @property
    def o(self) -> int:
        return self.slot_names.index("O")


def _compile(label: str, text: str, source: int, rel: _Rel | None) -> _Template:
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
    if "S" not in names or "O" not in names or len(names) > _MAX_SLOTS:
        raise AssertionError(f"demo template {text!r}: needs S and O, at most {_MAX_SLOTS} slots")

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
        types = [_LEX.class_type[c] for c in classes]
        s, o = names.index("S"), names.index("O")
        if rel is not None and _TYPES[types[o]] not in rel.obj:
            raise AssertionError(f"demo template {text!r}: object type not legitimate for {label}")
        alt = tuple(
            (a, b)
            for a in range(len(names))
            for b in range(len(names))
            if a != b and {a, b} != {s, o} and types[a] in (_TYPE_CODE["PER"], _TYPE_CODE["ORG"]) and rel is not None
        )
        order = tuple(k for k in range(len(names)) if ties[k] is None) + tuple(
            k for k in range(len(names)) if ties[k] is not None
        )
        variants.append(_Variant(types[o], tuple(classes), tuple(ties), order, alt))
    return _Template(_LABEL_CODE[label], text, source, tuple(names), tuple(parts), tuple(variants))


def _compile_all() -> tuple[_Template, ...]:
    out = [_compile(r.label, text, src, r) for r in _RELATIONS for text, src in r.templates]
    out += [_compile(NO_RELATION, text, src, None) for text, src in _NO_RELATION_TEMPLATES]
    texts = [t.text for t in out]
    if len(set(texts)) != len(texts):
        raise AssertionError("demo templates: two templates have the same text")
    for t in out:
        if t.label != _NR and t.variants[0].classes[t.s] not in _LEX.classes:
            raise AssertionError(f"demo template {t.text!r}: unknown class")
        prefix_type = "ORG" if KLUE_LABELS[t.label].startswith("org:") else "PER"
        if t.label != _NR and _LEX.class_type[t.variants[0].classes[t.s]] != _TYPE_CODE[prefix_type]:
            raise AssertionError(f"demo template {t.text!r}: subject type does not fit the label")
    return tuple(out)


_TEMPLATES = _compile_all()
_REL_BY_LABEL: dict[int, _Rel] = {_LABEL_CODE[r.label]: r for r in _RELATIONS}
if sorted(_REL_BY_LABEL) != [i for i in range(len(KLUE_LABELS)) if i != _NR]:
    raise AssertionError("demo relations must cover every KLUE relation exactly once")

# ----------------------------------------------------------------------------------------------------
# Row blocks: columnar rows before rendering, so injections edit integers rather than strings.
# ----------------------------------------------------------------------------------------------------


@dataclass
class _Block:
    sentence: np.ndarray  # StringDType
    label: np.ndarray  # int16, index into KLUE_LABELS
    source: np.ndarray  # int8, index into KLUE_SOURCES
    tpl: np.ndarray  # int32, index into _TEMPLATES
    var: np.ndarray  # int8, variant of the template
    slot_gid: np.ndarray  # (n, 4) int32 word id per slot, -1 where the template has fewer slots
    slot_start: np.ndarray  # (n, 4) int64
    subj_slot: np.ndarray  # int8
    obj_slot: np.ndarray  # int8
    subj_gid: np.ndarray  # int32
    obj_gid: np.ndarray
    subj_start: np.ndarray  # int64; end inclusive
    subj_end: np.ndarray
    obj_start: np.ndarray
    obj_end: np.ndarray
    subj_type: np.ndarray  # int8 type code
    obj_type: np.ndarray

    def __len__(self) -> int:
        return len(self.label)

    def take(self, idx: np.ndarray) -> _Block:
        return _Block(**{f.name: getattr(self, f.name)[idx] for f in fields(self)})

    def copy(self) -> _Block:
        return _Block(**{f.name: getattr(self, f.name).copy() for f in fields(self)})

    @staticmethod
    def concat(blocks: list[_Block]) -> _Block:
        return _Block(**{f.name: np.concatenate([getattr(b, f.name) for b in blocks]) for f in fields(_Block)})


def _group_sig(tpl: int, var: int, s: int, o: int) -> tuple[int, int, int, int]:
    return (tpl, var, s, o)


def _entity_keys(slot_gid: np.ndarray) -> np.ndarray:
    """One int64 per row identifying its entity choice (mixed radix over the slots)."""
    n_words = np.int64(len(_LEX.words) + 1)
    key = np.zeros(len(slot_gid), dtype=np.int64)
    for k in range(slot_gid.shape[1]):
        key = key * n_words + (slot_gid[:, k].astype(np.int64) + 1)
    return key


class _Generator:
    """Draws clean rows template by template; remembers every (template, pair, entities) it used.

    The memory lets the demo keep train rows unique and keep the test set from repeating train triples
    by chance (the few shared triples are put there on purpose).
    """

    def __init__(self, *, unique: bool) -> None:
        self.unique = unique
        self.used: dict[tuple[int, int, int, int], np.ndarray] = {}

    # -- sampling ------------------------------------------------------------------------------------
    @staticmethod
    def _sample(v: _Variant, c: int, rng: np.random.Generator) -> np.ndarray:
        idx = np.zeros((c, len(v.classes)), dtype=np.int64)
        gid = np.full((c, _MAX_SLOTS), -1, dtype=np.int32)
        for k in v.order:
            cls = _LEX.classes[v.classes[k]]
            tie = v.ties[k]
            if tie is None:
                idx[:, k] = rng.integers(0, len(cls), c)
            elif tie[0] == "pair":
                idx[:, k] = idx[:, tie[1]]
            else:  # kin: same surname, another given name
                ref = idx[:, tie[1]]
                given = (ref % _N_GIVEN + rng.integers(1, _N_GIVEN, c)) % _N_GIVEN
                idx[:, k] = (ref // _N_GIVEN) * _N_GIVEN + given
            gid[:, k] = cls[idx[:, k]]
        return gid

    def _draw(self, sig: tuple[int, int, int, int], v: _Variant, c: int, rng: np.random.Generator) -> np.ndarray:
        gid = self._sample(v, c, rng)
        n_slots = len(v.classes)

        def clashes(g: np.ndarray) -> np.ndarray:
            # One word in two slots of a sentence would make the marked pair ambiguous.
            bad = np.zeros(len(g), dtype=bool)
            for a in range(n_slots):
                for b in range(a + 1, n_slots):
                    bad |= g[:, a] == g[:, b]
            return bad

        used = self.used.get(sig, np.zeros(0, dtype=np.int64))
        if self.unique:
            best, stalled = c + 1, 0
            for _ in range(200):
                keys = _entity_keys(gid)
                _, first = np.unique(keys, return_index=True)
                bad = np.ones(c, dtype=bool)
                bad[first] = False
                bad |= np.isin(keys, used) | clashes(gid)
                n_bad = int(bad.sum())
                if n_bad == 0:
                    break
                stalled = stalled + 1 if n_bad >= best else 0
                if stalled >= 10:  # no progress in 10 rounds: not just bad luck
                    break  # the template has run out of unused combinations: keep the repeats
                best = min(best, n_bad)
                gid[bad] = self._sample(v, n_bad, rng)
        for _ in range(100):
            bad = clashes(gid)
            if not bad.any():
                break
            gid[bad] = self._sample(v, int(bad.sum()), rng)
        else:
            raise AssertionError("demo generator: could not draw distinct entities")
        self.used[sig] = np.concatenate([used, _entity_keys(gid)])
        return gid

    # -- one group: one template, one variant, one marked pair ----------------------------------------
    def group(self, tpl_i: int, var_i: int, s: int, o: int, label: int, c: int, rng: np.random.Generator) -> _Block:
        t = _TEMPLATES[tpl_i]
        v = t.variants[var_i]
        gid = self._draw(_group_sig(tpl_i, var_i, s, o), v, c, rng)
        sentence, starts = _assemble(t, gid)
        src = np.full(c, t.source, dtype=np.int8)
        moved = rng.random(c) >= _SOURCE_AFFINITY
        src[moved] = (t.source + rng.integers(1, len(KLUE_SOURCES), int(moved.sum()))) % len(KLUE_SOURCES)
        rows = np.arange(c)
        sg, og = gid[rows, s], gid[rows, o]
        return _Block(
            sentence=sentence,
            label=np.full(c, label, dtype=np.int16),
            source=src,
            tpl=np.full(c, tpl_i, dtype=np.int32),
            var=np.full(c, var_i, dtype=np.int8),
            slot_gid=gid,
            slot_start=starts,
            subj_slot=np.full(c, s, dtype=np.int8),
            obj_slot=np.full(c, o, dtype=np.int8),
            subj_gid=sg,
            obj_gid=og,
            subj_start=starts[:, s].copy(),
            subj_end=starts[:, s] + _LEX.length[sg] - 1,
            obj_start=starts[:, o].copy(),
            obj_end=starts[:, o] + _LEX.length[og] - 1,
            subj_type=_LEX.type_code[sg].copy(),
            obj_type=_LEX.type_code[og].copy(),
        )

    def _spread(
        self,
        total: int,
        options: list[tuple[int, int, int, int]],
        weights: np.ndarray,
        rng: np.random.Generator,
    ) -> np.ndarray:
        """Split ``total`` rows over groups (tpl, var, s, o) at random, by ``weights``.

        With ``unique``, a group gets at most half of its unused entity combinations while others have
        room, so that short templates over small lexicons do not run out of distinct rows.
        """
        w = np.asarray(weights, dtype=float) / np.sum(weights)
        counts = rng.multinomial(total, w)
        if not self.unique:
            return counts
        free = [
            _capacity(_TEMPLATES[ti].variants[vi]) - len(self.used.get(_group_sig(ti, vi, a, b), ()))
            for ti, vi, a, b in options
        ]
        ceil = np.maximum(np.asarray(free, dtype=np.int64) // 2, 0)
        for _ in range(10):
            excess = int(np.maximum(counts - ceil, 0).sum())
            room = ceil - np.minimum(counts, ceil)
            if excess == 0 or room.sum() == 0:
                break
            counts = np.minimum(counts, ceil)
            share = w * (room > 0)
            counts += rng.multinomial(excess, share / share.sum())
        return counts

    def block(self, counts: np.ndarray, rng: np.random.Generator, *, poh_boost: float = 1.0) -> _Block:
        """Rows for ``counts[label]`` rows per label, shuffled."""
        groups: list[tuple[int, int, int, int, int, int]] = []  # tpl, var, s, o, label, count
        for label, m in enumerate(counts.tolist()):
            if m == 0:
                continue
            if label == _NR:
                groups += self._no_relation_groups(m, rng, poh_boost)
                continue
            rel = _REL_BY_LABEL[label]
            for type_code, m_t in _split_types(m, rel).items():
                opts = [
                    (ti, vi, t.s, t.o)
                    for ti, t in enumerate(_TEMPLATES)
                    if t.label == label
                    for vi, v in enumerate(t.variants)
                    if v.obj_type == type_code
                ]
                spread = self._spread(m_t, opts, np.ones(len(opts)), rng)
                groups += [(*opt, label, int(c)) for opt, c in zip(opts, spread, strict=True)]
        blocks = [self.group(ti, vi, s, o, lab, c, rng) for ti, vi, s, o, lab, c in groups if c > 0]
        out = _Block.concat(blocks)
        return out.take(rng.permutation(len(out)))

    def _no_relation_groups(
        self, m: int, rng: np.random.Generator, poh_boost: float
    ) -> list[tuple[int, int, int, int, int, int]]:
        m_derived = round(_DERIVED_SHARE * m)
        plain = [(ti, 0, t.s, t.o) for ti, t in enumerate(_TEMPLATES) if t.label == _NR]
        poh = _TYPE_CODE["POH"]
        w = np.array([poh_boost if _TEMPLATES[ti].variants[0].obj_type == poh else 1.0 for ti, *_ in plain])
        spread = self._spread(m - m_derived, plain, w, rng)
        out = [(*opt, _NR, int(c)) for opt, c in zip(plain, spread, strict=True)]
        # Derived: a relation sentence marked on an unrelated pair; each template weighs the same.
        opts: list[tuple[int, int, int, int]] = []
        ws: list[float] = []
        for ti, t in enumerate(_TEMPLATES):
            pairs = [(ti, vi, a, b) for vi, v in enumerate(t.variants) for a, b in v.alt_pairs]
            opts += pairs
            ws += [1.0 / len(pairs) for _ in pairs]
        spread = self._spread(m_derived, opts, np.asarray(ws), rng)
        return out + [(*opt, _NR, int(c)) for opt, c in zip(opts, spread, strict=True)]


def _capacity(v: _Variant) -> int:
    """How many distinct entity choices a template variant has (a tie adds none, a relative G - 1)."""
    cap = 1
    for cls, tie in zip(v.classes, v.ties, strict=True):
        if tie is None:
            cap *= len(_LEX.classes[cls])
        elif tie[0] == "kin":
            cap *= _N_GIVEN - 1
    return cap


def _split_types(m: int, rel: _Rel) -> dict[int, int]:
    """Rows per object type: deterministic, each legitimate type at least 15 % of the label."""
    types = [_TYPE_CODE[t] for t in rel.obj]
    if len(types) == 1:
        return {types[0]: m}
    minor = round(m * rel.minor_share)
    if m >= 4:
        floor = math.ceil(_MIN_TYPE_SHARE * m)
        minor = min(max(minor, floor), m - floor)
    return {types[0]: m - minor, types[1]: minor}


def _assemble(t: _Template, gid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sentences and slot start offsets for one template, vectorised over rows."""
    c = len(gid)
    acc = np.full(c, "", dtype=_STR)
    pos = np.zeros(c, dtype=np.int64)
    starts = np.full((c, _MAX_SLOTS), -1, dtype=np.int64)
    for part in t.parts:
        kind = part[0]
        if kind == "lit":
            acc = np.strings.add(acc, part[1])
            pos += len(part[1])
        elif kind == "slot":
            k = part[1]
            starts[:, k] = pos
            acc = np.strings.add(acc, _LEX.word_arr[gid[:, k]])
            pos += _LEX.length[gid[:, k]]
        else:
            _, k, after_batchim, after_vowel, is_ro = part
            g = gid[:, k]
            use_a = _LEX.batchim[g] & ~_LEX.rieul[g] if is_ro else _LEX.batchim[g]
            forms = np.asarray([after_vowel, after_batchim], dtype=_STR)
            acc = np.strings.add(acc, forms[use_a.astype(np.intp)])
            pos += np.where(use_a, len(after_batchim), len(after_vowel))
    return acc, starts


def _allocate(total: int, weights: np.ndarray, floor: int) -> np.ndarray:
    """Split ``total`` by ``weights``, every entry at least ``floor`` (water-filling, largest remainder)."""
    k = len(weights)
    floor = min(floor, total // k) if k else 0
    fixed = np.zeros(k, dtype=bool)
    while True:
        free = ~fixed
        rest = total - floor * int(fixed.sum())
        quota = np.where(fixed, float(floor), rest * weights / weights[free].sum())
        low = free & (quota < floor)
        if not low.any():
            break
        fixed |= low
    base = np.floor(quota).astype(np.int64)
    left = total - int(base.sum())
    order = np.lexsort((np.arange(k), -(quota - base)))  # largest remainder, ties by position
    base[order[:left]] += 1
    return base


def _label_counts(n: int, no_relation_share: float, poh_boost: float) -> np.ndarray:
    """Rows per label (KLUE_LABELS order) for ``n`` rows."""
    n_nr = round(n * no_relation_share)
    rel_labels = [i for i in range(len(KLUE_LABELS)) if i != _NR]
    weights = []
    for i in rel_labels:
        rel = _REL_BY_LABEL[i]
        poh_part = 0.0
        if "POH" in rel.obj:
            poh_part = (
                1.0 if len(rel.obj) == 1 else (rel.minor_share if list(rel.obj)[1] == "POH" else 1 - rel.minor_share)
            )
        weights.append(_KLUE_TRAIN_COUNTS[KLUE_LABELS[i]] * (1 + (poh_boost - 1) * poh_part))
    floor = round(_FLOOR_SHARE * n) if n >= 200 else int(n >= 29)
    counts = np.zeros(len(KLUE_LABELS), dtype=np.int64)
    counts[rel_labels] = _allocate(n - n_nr, np.asarray(weights, dtype=float), floor)
    counts[_NR] = n_nr
    return counts


# ----------------------------------------------------------------------------------------------------
# Rendering to the competition CSV.
# ----------------------------------------------------------------------------------------------------

_TYPE_TAIL = np.asarray([f", 'type': '{t}'}}" for t in _TYPES], dtype=_STR)


def _entity_strings(gid: np.ndarray, start: np.ndarray, end: np.ndarray, type_code: np.ndarray) -> np.ndarray:
    """``repr()`` of ``{'word', 'start_idx', 'end_idx', 'type'}`` dicts, built column-wise."""
    out = np.strings.add("{'word': ", _LEX.repr_arr[gid])
    out = np.strings.add(out, ", 'start_idx': ")
    out = np.strings.add(out, start.astype(_STR))
    out = np.strings.add(out, ", 'end_idx': ")
    out = np.strings.add(out, end.astype(_STR))
    return np.strings.add(out, _TYPE_TAIL[type_code])


_PD_STR = pd.StringDtype("pyarrow", na_value=np.nan)  # pandas' default ``str`` dtype


def _as_str(arr: np.ndarray) -> pd.Series:
    """A pandas ``str`` column straight from a numpy string array (no Python objects in between)."""
    return pd.Series(pa.array(arr, type=pa.large_string()), dtype=_PD_STR)


def _render(block: _Block, ids: np.ndarray, *, unlabeled: bool = False) -> pd.DataFrame:
    labels: Any
    if unlabeled:
        labels = np.full(len(block), UNLABELED_TEST_LABEL, dtype=np.int64)
    else:
        labels = _as_str(np.asarray(KLUE_LABELS, dtype=_STR)[block.label])
    return pd.DataFrame(
        {
            "id": np.asarray(ids, dtype=np.int64),
            "sentence": _as_str(block.sentence),
            "subject_entity": _as_str(
                _entity_strings(block.subj_gid, block.subj_start, block.subj_end, block.subj_type)
            ),
            "object_entity": _as_str(_entity_strings(block.obj_gid, block.obj_start, block.obj_end, block.obj_type)),
            "label": labels,
            "source": _as_str(np.asarray(KLUE_SOURCES, dtype=_STR)[block.source]),
        }
    )


def generate_rows(
    n: int,
    *,
    seed: int,
    no_relation_share: float = 0.30,
    poh_boost: float = 1.0,
    unique: bool = True,
) -> pd.DataFrame:
    """Clean synthetic KLUE-RE rows in competition-CSV columns.

    Parameters
    ----------
    n
        Number of rows (>= 0).
    seed
        Seed of the ``numpy`` generator; the same seed gives the same frame.
    no_relation_share
        Share of ``no_relation`` rows (about 0.30 in the competition train set).
    poh_boost
        Weight multiplier for relations and ``no_relation`` templates with a POH object (the
        competition test set has more of them).
    unique
        Redraw entities so that no (sentence, subject, object) triple repeats. Best effort: a template
        whose combinations run out (only at hundreds of thousands of rows) keeps some repeats.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`COMPETITION_COLUMNS`; ``id`` is ``0..n-1`` in row order, rows are shuffled,
        entity columns hold ``repr()`` of ``{'word', 'start_idx', 'end_idx', 'type'}`` with an
        inclusive end.
    """
    if n < 0:
        raise ValueError(f"generate_rows: n must be >= 0, got {n}")
    if not 0.0 <= no_relation_share <= 1.0:
        raise ValueError(f"generate_rows: no_relation_share must be in [0, 1], got {no_relation_share}")
    if poh_boost <= 0:
        raise ValueError(f"generate_rows: poh_boost must be > 0, got {poh_boost}")
    if n == 0:
        return pd.DataFrame({c: pd.Series([], dtype="str") for c in COMPETITION_COLUMNS}).astype({"id": np.int64})
    rng = np.random.default_rng(seed)
    block = _Generator(unique=unique).block(_label_counts(n, no_relation_share, poh_boost), rng, poh_boost=poh_boost)
    return _render(block, np.arange(n))


def write_large_csv(path: str | Path, n_rows: int, *, seed: int = 13) -> Path:
    """Write ``n_rows`` clean rows (:func:`generate_rows`) to a competition CSV at ``path``, atomically.

    Used by the benchmarks (32,470 rows like the real train set, and 1,000,000 rows).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = generate_rows(n_rows, seed=seed)
    atomic_write_text(path, lambda fh: frame.to_csv(fh, index=False, lineterminator="\n"))
    return path


# ----------------------------------------------------------------------------------------------------
# Manifest.
# ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TypeFlip:
    """An entity type changed to one that the row's label does not allow."""

    id: int
    role: str  # "subj" | "obj"
    original_type: str
    new_type: str


@dataclass(frozen=True)
class Duplicate:
    """An exact copy (all columns but ``id``) of train row ``copy_of``."""

    id: int
    copy_of: int


@dataclass(frozen=True)
class LabelConflict:
    """A copy of train row ``conflicts_with`` (same sentence, subject, object) with another label."""

    id: int
    conflicts_with: int
    label: str
    original_label: str


@dataclass(frozen=True)
class OffsetError:
    """An entity span moved so that ``sentence[start:end + 1]`` no longer equals the word."""

    id: int
    role: str  # "subj" | "obj"
    start: int
    end: int
    original_start: int
    original_end: int


@dataclass(frozen=True)
class LabelFlip:
    """A label replaced by another label at random; the entity types were left as they were."""

    id: int
    original_label: str
    new_label: str


_KINDS: dict[str, type] = {
    "type_flips": TypeFlip,
    "duplicates": Duplicate,
    "label_conflicts": LabelConflict,
    "offset_errors": OffsetError,
    "label_flips": LabelFlip,
}


@dataclass(frozen=True)
class DemoManifest:
    """What :func:`write_demo_dataset` wrote: the seed, the sizes and every injected train error.

    ``manifest.json`` holds ``{"seed", "n_train", "n_test", "injected": {kind: [entry, ...]}}`` with the
    kinds ``type_flips``, ``duplicates``, ``label_conflicts``, ``offset_errors``, ``label_flips``; ids
    are train ``id`` values. Each train row carries at most one injection.
    """

    seed: int
    n_train: int
    n_test: int
    type_flips: tuple[TypeFlip, ...] = ()
    duplicates: tuple[Duplicate, ...] = ()
    label_conflicts: tuple[LabelConflict, ...] = ()
    offset_errors: tuple[OffsetError, ...] = ()
    label_flips: tuple[LabelFlip, ...] = ()

    def injected_ids(self) -> dict[int, str]:
        """Train id -> kind of the injection on that row."""
        return {e.id: kind for kind in _KINDS for e in getattr(self, kind)}

    def to_dict(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "n_train": self.n_train,
            "n_test": self.n_test,
            "injected": {
                kind: [{f.name: getattr(e, f.name) for f in fields(e)} for e in getattr(self, kind)] for kind in _KINDS
            },
        }

    def to_json(self) -> str:
        """JSON text: indented, one injected entry per line (easy to read and to diff)."""
        d = self.to_dict()
        lines = ["{"]
        lines += [f'  "{k}": {json.dumps(d[k])},' for k in ("seed", "n_train", "n_test")]
        lines.append('  "injected": {')
        kinds = list(d["injected"])
        for i, kind in enumerate(kinds):
            entries = d["injected"][kind]
            body = ",\n".join(f"      {json.dumps(e, ensure_ascii=False)}" for e in entries)
            close = "," if i < len(kinds) - 1 else ""
            lines.append(f'    "{kind}": [\n{body}\n    ]{close}' if entries else f'    "{kind}": []{close}')
        lines += ["  }", "}"]
        return "\n".join(lines) + "\n"

    @classmethod
    def from_dict(cls, data: Any) -> DemoManifest:
        """Inverse of :meth:`to_dict`; raises ``ValueError`` naming the first bad field."""
        if not isinstance(data, dict):
            raise ValueError("manifest: expected a JSON object at the top level")
        for key in ("seed", "n_train", "n_test"):
            if not isinstance(data.get(key), int) or isinstance(data.get(key), bool):
                raise ValueError(f"manifest: field {key!r} must be an integer")
        injected = data.get("injected")
        if not isinstance(injected, dict):
            raise ValueError("manifest: field 'injected' must be an object")
        kwargs: dict[str, Any] = {}
        for kind, entry_cls in _KINDS.items():
            entries = injected.get(kind, [])
            if not isinstance(entries, list):
                raise ValueError(f"manifest: injected.{kind} must be a list")
            names = [f.name for f in fields(entry_cls)]
            parsed = []
            for i, e in enumerate(entries):
                if not isinstance(e, dict) or sorted(e) != sorted(names):
                    raise ValueError(f"manifest: injected.{kind}[{i}] must have exactly the keys {names}")
                for f in fields(entry_cls):
                    want = int if f.type in ("int", int) else str
                    if not isinstance(e[f.name], want) or isinstance(e[f.name], bool):
                        raise ValueError(f"manifest: injected.{kind}[{i}].{f.name} must be {want.__name__}")
                parsed.append(entry_cls(**e))
            kwargs[kind] = tuple(parsed)
        return cls(seed=data["seed"], n_train=data["n_train"], n_test=data["n_test"], **kwargs)

    @classmethod
    def from_json(cls, text: str) -> DemoManifest:
        return cls.from_dict(json.loads(text))


def load_manifest(path: str | Path) -> DemoManifest:
    """Read a ``manifest.json`` written by :func:`write_demo_dataset`; ``DataError`` names the file."""
    path = Path(path)
    try:
        return DemoManifest.from_json(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, ValueError) as exc:
        raise DataError(f"{path}: not a demo manifest ({exc})") from exc


# ----------------------------------------------------------------------------------------------------
# Injected train errors.
# ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _InjectionPlan:
    duplicates: int
    label_conflicts: int
    object_type_flips: int
    subject_type_flips: int
    offset_errors: int
    label_flips: int

    @classmethod
    def for_size(cls, n_train: int) -> _InjectionPlan:
        k = n_train / 3000  # the brief's counts are for 3,000 rows; scale with the size
        flips = max(2, round(40 * k))
        return cls(
            duplicates=max(1, round(20 * k)),
            label_conflicts=max(1, round(15 * k)),
            object_type_flips=flips - flips * 3 // 10,
            subject_type_flips=flips * 3 // 10,
            offset_errors=max(1, round(15 * k)),
            label_flips=max(1, round(0.03 * n_train)),
        )


_FLIP_MIN_LABEL_ROWS = 60  # type flips only on labels this large, so one flip is well under 5 %
_FLIP_MAX_SHARE = 0.025  # at most this share of a label carries the same flipped (role, type)


def _legit_object(label: int) -> set[int]:
    return {_TYPE_CODE[t] for t in RELATION_OBJECT_TYPES[KLUE_LABELS[label]]}


def _inject(
    base: _Block, plan: _InjectionPlan, rng: np.random.Generator
) -> tuple[_Block, dict[str, list[dict[str, Any]]], np.ndarray]:
    """Apply the plan to a copy of ``base``; return rows (copies appended), entries by row index, touched.

    Every injection lands on its own row, and no injected row is the source of a copy.
    """
    block = base.copy()
    n = len(block)
    counts = np.bincount(block.label, minlength=len(KLUE_LABELS))
    order = rng.permutation(n).tolist()
    touched = np.zeros(n, dtype=bool)
    entries: dict[str, list[dict[str, Any]]] = {kind: [] for kind in _KINDS}

    def take(pred: Callable[[int], bool], want: int) -> list[int]:
        got = []
        for r in order:
            if len(got) == want:
                break
            if not touched[r] and pred(r):
                touched[r] = True
                got.append(r)
        if len(got) < want:
            raise AssertionError(f"demo injections: only {len(got)} of {want} eligible rows")
        return got

    copies: list[int] = []
    copy_labels: list[int] = []
    # Exact duplicates.
    for r in take(lambda r: True, plan.duplicates):
        entries["duplicates"].append({"id": n + len(copies), "copy_of": r})
        copies.append(r)
        copy_labels.append(int(block.label[r]))

    # Label conflicts: another label that fits the row's types (or no_relation).
    def conflict_label(r: int) -> list[int]:
        lab = int(block.label[r])
        st, ot = int(block.subj_type[r]), int(block.obj_type[r])
        cands = [] if lab == _NR else [_NR]
        for other, rel in _REL_BY_LABEL.items():
            prefix = _TYPE_CODE["ORG" if rel.label.startswith("org:") else "PER"]
            if other != lab and prefix == st and ot in _legit_object(other):
                cands.append(other)
        return cands

    for r in take(lambda r: bool(conflict_label(r)), plan.label_conflicts):
        cands = conflict_label(r)
        new = cands[int(rng.integers(0, len(cands)))]
        entries["label_conflicts"].append(
            {
                "id": n + len(copies),
                "conflicts_with": r,
                "label": KLUE_LABELS[new],
                "original_label": KLUE_LABELS[int(block.label[r])],
            }
        )
        copies.append(r)
        copy_labels.append(new)

    # Entity-type flips to a type the label does not allow, on large labels only.
    flipped: dict[tuple[int, str, int], int] = {}

    def cap(label: int) -> int:
        return max(1, int(_FLIP_MAX_SHARE * counts[label]))

    def obj_flip_types(r: int) -> list[int]:
        lab = int(block.label[r])
        if lab == _NR or counts[lab] < _FLIP_MIN_LABEL_ROWS:
            return []
        bad = [t for t in range(len(_TYPES)) if t not in _legit_object(lab)]
        return [t for t in bad if flipped.get((lab, "obj", t), 0) < cap(lab)]

    for _ in range(plan.object_type_flips):
        (r,) = take(lambda r: bool(obj_flip_types(r)), 1)
        options = obj_flip_types(r)
        new = options[int(rng.integers(0, len(options)))]
        lab = int(block.label[r])
        flipped[(lab, "obj", new)] = flipped.get((lab, "obj", new), 0) + 1
        entries["type_flips"].append(
            {"id": r, "role": "obj", "original_type": _TYPES[block.obj_type[r]], "new_type": _TYPES[new]}
        )
        block.obj_type[r] = new

    def subj_flip_ok(r: int) -> bool:
        lab = int(block.label[r])
        if lab == _NR or counts[lab] < _FLIP_MIN_LABEL_ROWS:
            return False
        new = _TYPE_CODE["PER"] if block.subj_type[r] == _TYPE_CODE["ORG"] else _TYPE_CODE["ORG"]
        return flipped.get((lab, "subj", new), 0) < cap(lab)

    for _ in range(plan.subject_type_flips):
        (r,) = take(subj_flip_ok, 1)
        lab = int(block.label[r])
        new = _TYPE_CODE["PER"] if block.subj_type[r] == _TYPE_CODE["ORG"] else _TYPE_CODE["ORG"]
        flipped[(lab, "subj", new)] = flipped.get((lab, "subj", new), 0) + 1
        entries["type_flips"].append(
            {"id": r, "role": "subj", "original_type": _TYPES[block.subj_type[r]], "new_type": _TYPES[new]}
        )
        block.subj_type[r] = new

    # Offset errors: the span shifted, stretched or shrunk by 1-3 characters, still inside the sentence.
    def offset_options(r: int, role: str) -> list[tuple[int, int]]:
        sent = str(block.sentence[r])
        start = int(getattr(block, f"{role}_start")[r])
        end = int(getattr(block, f"{role}_end")[r])
        word = _LEX.words[int(getattr(block, f"{role}_gid")[r])]
        opts = []
        for d in (-3, -2, -1, 1, 2, 3):
            for s2, e2 in ((start + d, end + d), (start, end + d), (start + d, end)):
                if 0 <= s2 <= e2 < len(sent) and sent[s2 : e2 + 1] != word:
                    opts.append((s2, e2))
        return opts

    def has_offset_option(r: int) -> bool:
        return bool(offset_options(r, "subj") or offset_options(r, "obj"))

    for r in take(has_offset_option, plan.offset_errors):
        roles = ["subj", "obj"] if rng.random() < 0.5 else ["obj", "subj"]
        role = next(x for x in roles if offset_options(r, x))
        opts = offset_options(r, role)
        s2, e2 = opts[int(rng.integers(0, len(opts)))]
        start_arr, end_arr = getattr(block, f"{role}_start"), getattr(block, f"{role}_end")
        entries["offset_errors"].append(
            {
                "id": r,
                "role": role,
                "start": s2,
                "end": e2,
                "original_start": int(start_arr[r]),
                "original_end": int(end_arr[r]),
            }
        )
        start_arr[r], end_arr[r] = s2, e2

    # Random label flips (uniform over the other 29 labels; types untouched).
    for r in take(lambda r: True, plan.label_flips):
        old = int(block.label[r])
        new = int((old + rng.integers(1, len(KLUE_LABELS))) % len(KLUE_LABELS))
        entries["label_flips"].append({"id": r, "original_label": KLUE_LABELS[old], "new_label": KLUE_LABELS[new]})
        block.label[r] = new

    copied = block.take(np.asarray(copies, dtype=np.int64))
    copied.label = np.asarray(copy_labels, dtype=np.int16)
    return _Block.concat([block, copied]), entries, touched


# ----------------------------------------------------------------------------------------------------
# The demo dataset.
# ----------------------------------------------------------------------------------------------------

_TEST_NO_RELATION_SHARE = 0.45
_TEST_POH_BOOST = 2.0
_TEST_REUSE_SHARE = 0.03  # test rows on a train sentence, another entity pair
_TEST_EXACT_SHARE = 0.006  # test rows that repeat a train triple exactly
_MIN_TRAIN, _MIN_TEST = 1000, 100


def _pair_row(block: _Block, r: int, a: int, b: int) -> _Block:
    """Row ``r`` of ``block`` marked on slots (a, b) instead, labelled as the template says."""
    row = block.take(np.asarray([r]))
    t = _TEMPLATES[int(row.tpl[0])]
    ga, gb = int(row.slot_gid[0, a]), int(row.slot_gid[0, b])
    sa, sb = int(row.slot_start[0, a]), int(row.slot_start[0, b])
    row.subj_slot[0], row.obj_slot[0] = a, b
    row.subj_gid[0], row.obj_gid[0] = ga, gb
    row.subj_start[0], row.subj_end[0] = sa, sa + _LEX.length[ga] - 1
    row.obj_start[0], row.obj_end[0] = sb, sb + _LEX.length[gb] - 1
    row.subj_type[0], row.obj_type[0] = _LEX.type_code[ga], _LEX.type_code[gb]
    row.label[0] = t.label if (a, b) == (t.s, t.o) else _NR
    return row


def _test_block(
    gen: _Generator, train_base: _Block, touched: np.ndarray, n_test: int, rng: np.random.Generator
) -> _Block:
    n_exact = max(1, round(_TEST_EXACT_SHARE * n_test))
    n_reuse = max(1, round(_TEST_REUSE_SHARE * n_test))
    fresh = gen.block(
        _label_counts(n_test - n_exact - n_reuse, _TEST_NO_RELATION_SHARE, _TEST_POH_BOOST),
        rng,
        poh_boost=_TEST_POH_BOOST,
    )
    parts = [fresh]
    clean = [r for r in rng.permutation(len(train_base)).tolist() if not touched[r]]
    reused = 0
    taken: set[int] = set()
    for r in clean:
        if reused == n_reuse:
            break
        t = _TEMPLATES[int(train_base.tpl[r])]
        v = t.variants[int(train_base.var[r])]
        if not v.alt_pairs:  # the sentence has no other entity pair to mark
            continue
        current = (int(train_base.subj_slot[r]), int(train_base.obj_slot[r]))
        pairs = [p for p in (*v.alt_pairs, (t.s, t.o)) if p != current]
        a, b = pairs[int(rng.integers(0, len(pairs)))]
        sig = _group_sig(int(train_base.tpl[r]), int(train_base.var[r]), a, b)
        key = _entity_keys(train_base.slot_gid[[r]])
        used = gen.used.get(sig, np.zeros(0, dtype=np.int64))
        if np.isin(key, used).any():
            continue  # that triple already exists (in train or test)
        gen.used[sig] = np.concatenate([used, key])
        parts.append(_pair_row(train_base, r, a, b))
        taken.add(r)
        reused += 1
    exact = [r for r in clean if r not in taken][:n_exact]
    parts.append(train_base.take(np.asarray(exact, dtype=np.int64)))
    out = _Block.concat(parts)
    if len(out) != n_test:
        raise AssertionError(f"demo test set: built {len(out)} rows, wanted {n_test}")
    return out.take(rng.permutation(len(out)))


def write_demo_dataset(out_dir: str | Path, *, seed: int = 13, n_train: int = 3000, n_test: int = 800) -> DemoManifest:
    """Write the synthetic KLUE-RE demo dataset into ``out_dir``.

    Files (each written to a temporary file in ``out_dir`` and moved into place with ``os.replace``):

    - ``train.csv``: competition CSV, ``n_train`` rows (clean rows plus injected copies), ids
      ``0..n_train-1`` in shuffled order; the injected errors are listed in the manifest.
    - ``test.csv``: competition CSV, ``n_test`` clean rows, ``label`` = 100 on every row, ids
      ``0..n_test-1``; more ``no_relation`` (about 45 %) and more POH objects than train; some sentences
      also in train under other entity pairs and a few triples also in train.
    - ``test_gold.csv``: ``id,label`` with the test label names.
    - ``manifest.json``: :meth:`DemoManifest.to_json`.

    Parameters
    ----------
    out_dir
        Target folder; created if missing. Existing files of the same names are replaced.
    seed
        Everything is drawn from this seed: the same seed writes the same bytes.
    n_train, n_test
        Row counts (at least 1,000 and 100, so that every label keeps enough rows).

    Returns
    -------
    DemoManifest
        The manifest also written to ``manifest.json``.
    """
    if isinstance(n_train, bool) or not isinstance(n_train, int) or n_train < _MIN_TRAIN:
        raise ValueError(f"write_demo_dataset: n_train must be an integer >= {_MIN_TRAIN}, got {n_train!r}")
    if isinstance(n_test, bool) or not isinstance(n_test, int) or n_test < _MIN_TEST:
        raise ValueError(f"write_demo_dataset: n_test must be an integer >= {_MIN_TEST}, got {n_test!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    s_train, s_inject, s_test = np.random.SeedSequence(seed).spawn(3)
    rng_train, rng_inject, rng_test = (np.random.default_rng(s) for s in (s_train, s_inject, s_test))
    plan = _InjectionPlan.for_size(n_train)
    gen = _Generator(unique=True)
    n_base = n_train - plan.duplicates - plan.label_conflicts
    base = gen.block(_label_counts(n_base, 0.30, 1.0), rng_train)
    train, entries, touched = _inject(base, plan, rng_inject)

    # File order and ids: rows shuffled, ids a separate permutation (ids are not row numbers).
    order = rng_inject.permutation(n_train)
    ids = rng_inject.permutation(n_train)
    id_of = np.empty(n_train, dtype=np.int64)
    id_of[order] = ids
    remap = {"id": id_of, "copy_of": id_of, "conflicts_with": id_of}
    manifest_kwargs: dict[str, Any] = {}
    for kind, entry_cls in _KINDS.items():
        items = [entry_cls(**{k: int(remap[k][v]) if k in remap else v for k, v in e.items()}) for e in entries[kind]]
        manifest_kwargs[kind] = tuple(sorted(items, key=lambda e: e.id))
    manifest = DemoManifest(seed=seed, n_train=n_train, n_test=n_test, **manifest_kwargs)

    test = _test_block(gen, base, touched, n_test, rng_test)
    train_df = _render(train.take(order), ids)
    test_df = _render(test, np.arange(n_test), unlabeled=True)
    gold_df = pd.DataFrame(
        {"id": np.arange(n_test, dtype=np.int64), "label": _as_str(np.asarray(KLUE_LABELS)[test.label])}
    )
    for name, frame in (("train.csv", train_df), ("test.csv", test_df), ("test_gold.csv", gold_df)):
        atomic_write_text(out / name, lambda fh, f=frame: f.to_csv(fh, index=False, lineterminator="\n"))
    atomic_write_text(out / "manifest.json", lambda fh: fh.write(manifest.to_json()))
    return manifest
