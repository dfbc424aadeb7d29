"""Entity vocabulary of the synthetic demo dataset: word lists per entity class, and the shared codes.

Every entity the demo writes is drawn from :data:`LEX`: words grouped into classes (Korean and foreign
persons, companies, agencies, places, works, dates, numerals, ...), each class with one KLUE entity type,
plus the unions of classes that the templates name. Each word also carries its final sound (batchim),
which picks the Korean particle after it (:func:`final_sound`). This module is separate because it is pure
data with a fixed build step: it never touches a random generator, so the lexicon is the same for every
seed, and it sits at the bottom of the demo modules: the templates, the row generator, the injections and
the writers all index into :data:`LEX` and share the type and label codes defined here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.dtypes import StringDType

from core.common.schema import KLUE_LABELS, KLUE_OBJECT_TYPES, NO_RELATION

STR = StringDType()
TYPES: tuple[str, ...] = KLUE_OBJECT_TYPES  # PER, ORG, LOC, DAT, POH, NOH: the type codes used below
TYPE_CODE: dict[str, int] = {t: i for i, t in enumerate(TYPES)}
LABEL_CODE: dict[str, int] = {label: i for i, label in enumerate(KLUE_LABELS)}
NR = LABEL_CODE[NO_RELATION]

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


def final_sound(word: str) -> tuple[bool, bool]:
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
        code = TYPE_CODE[typ]
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
    sounds = [final_sound(w) for w in words]
    return _Lexicon(
        words=tuple(words),
        word_arr=np.asarray(words, dtype=STR),
        repr_arr=np.asarray([repr(w) for w in words], dtype=STR),
        length=np.asarray([len(w) for w in words], dtype=np.int64),
        type_code=np.asarray(types, dtype=np.int8),
        batchim=np.asarray([s[0] for s in sounds], dtype=bool),
        rieul=np.asarray([s[1] for s in sounds], dtype=bool),
        classes=classes,
        class_type=class_type,
    )


LEX = _build_lexicon()
N_GIVEN = len(_GIVEN)
