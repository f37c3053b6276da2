"""Seeded, reproducible data of the first conference (Chongqing, 2025-07-30). Pure: no I/O.

The announced figures are met exactly: more than 500 delegates from more than 110 countries, a
Collaboration Network spanning exactly 72 countries, exactly 66 signed projects worth exactly
¥43,790,000,000.00 (green energy and the digital economy the largest), and the Top-10 cases across
energy, manufacturing and social livelihood.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from decimal import Decimal

SEED = 2025
TOTAL_YUAN = Decimal("43790000000.00")
PROJECT_COUNT = 66
NETWORK_COUNTRIES = 72

FIRST_EDITION = {
    "year": 2025, "host": "Chongqing", "city": "Chongqing", "starts_on": "2025-07-30", "ends_on": "2025-07-31",
    "theme": "Gathering Overseas Chinese on the New Silk Road, Hand in Hand Towards the Future",
    "co_hosts": ["All-China Federation of Returned Overseas Chinese", "Chongqing Municipal People's Government",
                 "Sichuan Provincial People's Government"],
}
NEXT_EDITION = {
    "year": 2027, "city": "Chengdu", "starts_on": "2027-07-28", "ends_on": "2027-07-29",
    "theme": "Overseas Chinese and the Belt and Road: Building Together, Sharing Together",
    "co_hosts": ["All-China Federation of Returned Overseas Chinese", "Sichuan Provincial People's Government",
                 "Chongqing Municipal People's Government"],
}

# Where delegates come from, with a weight for how many: Southeast Asia first, as on the day.
COUNTRY_WEIGHTS: dict[str, int] = {
    "MY": 30, "SG": 24, "TH": 22, "ID": 22, "PH": 16, "VN": 10, "MM": 8, "KH": 8, "LA": 6, "BN": 4,
    "US": 18, "CA": 12, "AU": 14, "NZ": 6, "GB": 10, "FR": 8, "DE": 8, "IT": 7, "ES": 6, "NL": 5,
    "BE": 4, "CH": 4, "AT": 3, "SE": 3, "NO": 2, "DK": 2, "FI": 2, "IE": 2, "PT": 3, "GR": 3,
    "PL": 3, "CZ": 3, "HU": 4, "RO": 3, "BG": 2, "RS": 4, "HR": 2, "SI": 2, "SK": 2, "RU": 8,
    "UA": 2, "BY": 3, "KZ": 5, "UZ": 4, "KG": 3, "TJ": 2, "TM": 2, "MN": 3, "JP": 8, "KR": 8,
    "IN": 3, "PK": 4, "BD": 3, "LK": 3, "NP": 3, "MV": 1, "AF": 1, "IR": 2, "IQ": 1, "TR": 4,
    "SA": 3, "AE": 6, "QA": 2, "KW": 1, "OM": 1, "BH": 1, "JO": 1, "IL": 2, "EG": 4, "MA": 2,
    "DZ": 2, "TN": 1, "NG": 4, "GH": 3, "KE": 4, "ET": 3, "TZ": 3, "UG": 2, "RW": 1, "ZA": 6,
    "ZM": 2, "ZW": 2, "MZ": 2, "AO": 3, "MG": 2, "MU": 2, "CM": 1, "CI": 1, "SN": 1, "GA": 1,
    "CG": 1, "CD": 1, "SD": 1, "DJ": 1, "BR": 8, "AR": 4, "CL": 3, "PE": 5, "CO": 2, "VE": 2,
    "EC": 2, "BO": 1, "UY": 1, "PY": 1, "PA": 3, "CR": 2, "MX": 4, "CU": 2, "JM": 1, "TT": 1,
    "FJ": 2, "PG": 2, "WS": 1, "TO": 1, "VU": 1, "GE": 1, "AM": 1, "AZ": 1, "LU": 1, "MT": 1,
}

SURNAMES = [
    ("Tan", "陈"), ("Lim", "林"), ("Lee", "李"), ("Wong", "黄"), ("Chen", "陈"), ("Ng", "吴"), ("Goh", "吴"),
    ("Ong", "王"), ("Huang", "黄"), ("Lin", "林"), ("Zhang", "张"), ("Wang", "王"), ("Liu", "刘"), ("Yang", "杨"),
    ("Zhao", "赵"), ("Wu", "吴"), ("Zhou", "周"), ("Xu", "徐"), ("Sun", "孙"), ("Ma", "马"), ("Zhu", "朱"),
    ("Hu", "胡"), ("Guo", "郭"), ("He", "何"), ("Gao", "高"), ("Luo", "罗"), ("Zheng", "郑"), ("Liang", "梁"),
    ("Xie", "谢"), ("Song", "宋"), ("Tang", "唐"), ("Han", "韩"), ("Feng", "冯"), ("Deng", "邓"), ("Cao", "曹"),
    ("Peng", "彭"), ("Zeng", "曾"), ("Xiao", "肖"), ("Tian", "田"), ("Pan", "潘"), ("Yuan", "袁"), ("Cai", "蔡"),
    ("Jiang", "蒋"), ("Ye", "叶"), ("Cheng", "程"), ("Su", "苏"), ("Lu", "卢"), ("Ding", "丁"), ("Shen", "沈"),
    ("Yao", "姚"), ("Chua", "蔡"), ("Teo", "张"), ("Koh", "许"), ("Chong", "张"), ("Yap", "叶"), ("Khoo", "邱"),
    ("Chan", "陈"), ("Leung", "梁"), ("Cheung", "张"), ("Lau", "刘"), ("Ho", "何"), ("Kwok", "郭"), ("Sim", "沈"),
]
GIVEN_NAMES = [
    ("Wei", "伟"), ("Mei Ling", "美玲"), ("Jian Guo", "建国"), ("Xiao Hong", "晓红"), ("Zhi Qiang", "志强"),
    ("Li Na", "丽娜"), ("Hao", "浩"), ("Jing", "静"), ("Ming", "明"), ("Yan", "燕"), ("Jun", "军"), ("Fang", "芳"),
    ("Hui Min", "慧敏"), ("Guo Hua", "国华"), ("Xin Yi", "欣怡"), ("Kai", "凯"), ("Lei", "磊"), ("Ying", "颖"),
    ("Wen Jie", "文杰"), ("Shu Fen", "淑芬"), ("Cheng Long", "成龙"), ("Ai Ling", "爱玲"), ("De Hua", "德华"),
    ("Yong", "勇"), ("Qing", "青"), ("Hong Wei", "宏伟"), ("Li Hua", "丽华"), ("Zhen", "珍"), ("Bo", "波"),
    ("Kang", "康"), ("Rui", "睿"), ("Xue", "雪"), ("Tao", "涛"), ("Yu Xuan", "雨轩"), ("Jia Hui", "佳慧"),
    ("Chee Keong", "志强"), ("Siew Lan", "秀兰"), ("Boon Hock", "文福"), ("Kok Wai", "国伟"), ("Swee Lin", "瑞琳"),
]
CATEGORIES = ["representative"] * 14 + ["guest"] * 3 + ["official"] * 2 + ["media"]

ORGANIZATION_PATTERNS = [
    "{name} Chinese Chamber of Commerce", "Federation of Chinese Associations of {name}",
    "{name} Overseas Chinese Entrepreneurs Association", "{name} China Business Council",
    "{name} Sichuan-Chongqing Hometown Association", "{name} Chinese Professionals Association",
]
NETWORK_KINDS = ["chamber_of_commerce", "business_association", "business_association", "hometown_association",
                 "professional_association"]

# Sector -> (number of projects, relative size of each): green energy and digital economy lead the value.
SECTOR_PLAN: dict[str, tuple[int, float]] = {
    "green_energy": (14, 1.9), "digital_economy": (12, 1.6), "energy": (8, 1.0), "manufacturing": (8, 0.8),
    "infrastructure": (6, 0.9), "trade_logistics": (5, 0.5), "agriculture": (4, 0.35), "healthcare": (3, 0.4),
    "finance": (2, 0.5), "culture_tourism": (2, 0.25), "social_livelihood": (2, 0.2),
}
PROJECT_TITLES: dict[str, list[str]] = {
    "green_energy": ["{c} solar farm and storage", "{c} wind power cooperation", "{c} hydrogen energy park",
                     "{c} photovoltaic module plant", "{c} green battery recycling centre"],
    "digital_economy": ["{c} cross-border e-commerce hub", "{c} data centre partnership", "{c} smart city platform",
                        "{c} digital payments corridor", "{c} AI logistics software venture"],
    "energy": ["{c} LNG supply cooperation", "{c} power grid upgrade", "{c} hydropower station"],
    "manufacturing": ["{c} new energy vehicle assembly", "{c} motorcycle parts plant", "{c} precision machinery JV"],
    "infrastructure": ["{c} port terminal expansion", "{c} rail freight station", "{c} industrial park roads"],
    "trade_logistics": ["{c} China-Europe rail consolidation centre", "{c} cold-chain logistics hub"],
    "agriculture": ["{c} tropical fruit import base", "{c} modern agriculture demonstration farm"],
    "healthcare": ["{c} traditional Chinese medicine centre", "{c} medical equipment distribution"],
    "finance": ["{c} trade finance facility", "{c} RMB settlement cooperation"],
    "culture_tourism": ["{c} Bashu culture tourism route", "{c} Chinese language and culture centre"],
    "social_livelihood": ["{c} vocational training school", "{c} community health and education fund"],
}
CHINESE_PARTIES = [
    "Chongqing Changan Automobile Co.", "Chongqing Port Logistics Group", "Sichuan Energy Investment Group",
    "Chengdu Tianfu International Investment", "Chongqing Liangjiang New Area Development", "Sichuan Airlines",
    "Chongqing Energy Investment Group", "Tongwei Co., Ltd.", "Sichuan Road & Bridge Group", "Seres Group",
    "Chongqing Rural Commercial Bank", "Sichuan Kelun Pharmaceutical", "Chongqing Zongshen Power Machinery",
    "Chengdu Xingrong Environment", "Sichuan Development Holding", "Chongqing Western Land-Sea Trade Corridor Co.",
]
CASES = [
    ("energy", "Bringing solar microgrids to off-grid villages", "Sunrise Renewables Sdn Bhd", "MY"),
    ("manufacturing", "A motorcycle plant that trained 3,000 local technicians", "Zongshen Vietnam", "VN"),
    ("social_livelihood", "Free clinics along the Laos–China railway", "Vientiane Chinese Association", "LA"),
    ("energy", "Hydropower that lit up a province", "Kamchay Power Partners", "KH"),
    ("manufacturing", "Electric buses made in Bangkok for ASEAN", "Siam EV Manufacturing", "TH"),
    ("social_livelihood", "Scholarships for 10,000 students in Kenya", "Kenya Chinese Chamber of Commerce", "KE"),
    ("energy", "Geothermal power with Indonesian partners", "Nusantara Green Power", "ID"),
    ("manufacturing", "Reviving a Hungarian machinery works", "Pannonia Precision Kft", "HU"),
    ("social_livelihood", "Clean water for Andean communities", "Peru Chinese Benevolent Society", "PE"),
    ("energy", "Wind farms on the Kazakh steppe", "Steppe Wind Energy LLP", "KZ"),
]
SESSIONS = [
    ("forum", "Overseas Chinese and the New International Land-Sea Trade Corridor", 120),
    ("forum", "Green Energy Cooperation Forum", 90),
    ("forum", "Digital Economy and Cross-Border E-commerce Forum", 90),
    ("forum", "Youth Entrepreneurs of the Overseas Chinese Community", 60),
    ("forum", "Chinese Culture and People-to-People Bonds", 60),
    ("forum", "Sichuan-Chongqing Economic Circle Investment Promotion", 80),
    ("field_visit", "Liangjiang New Area smart factories", 40),
    ("field_visit", "Chongqing Guoyuan Port and the China-Europe Railway Express", 40),
    ("field_visit", "Chengdu Tianfu International Bio-Town", 30),
    ("field_visit", "Dazu Rock Carvings and rural revitalisation", 35),
]


@dataclass
class Delegate:
    key: str
    full_name: str
    name_zh: str
    country: str
    city: str | None
    organization: str
    email: str
    category: str
    checks_in: bool
    cancels: bool
    # Consent to the public delegate list: about two in three gave it (the rest are seen by staff only).
    listed_publicly: bool


@dataclass
class Organization:
    key: str
    name: str
    country: str
    kind: str
    website: str


@dataclass
class Project:
    key: str
    title: str
    sector: str
    amount: Decimal
    overseas_countries: list[str]
    chinese_party: str
    member_keys: list[str] = field(default_factory=list)  # network members taking part


@dataclass
class Case:
    key: str
    rank: int
    sector: str
    title: str
    enterprise: str
    country: str
    summary: str
    project_key: str | None


@dataclass
class Conference:
    delegates: list[Delegate]
    organizations: list[Organization]
    projects: list[Project]
    cases: list[Case]
    sessions: list[tuple[str, str, int]]
    enrollments: list[tuple[int, str]]  # (session index, delegate key)


def country_name(code: str) -> str:
    import pycountry

    country = pycountry.countries.get(alpha_2=code)
    return getattr(country, "common_name", None) or (country.name if country else code)


def build(seed: int = SEED) -> Conference:
    rng = random.Random(seed)
    delegates = _delegates(rng)
    organizations = _organizations(rng)
    projects = _projects(rng, organizations)
    cases = _cases(rng, projects)
    enrollments = _enrollments(rng, delegates)
    return Conference(delegates, organizations, projects, cases, SESSIONS, enrollments)


def _delegates(rng: random.Random) -> list[Delegate]:
    countries = list(COUNTRY_WEIGHTS)
    # Everyone's country first (so all of them are represented), then the rest by weight.
    picks = countries + rng.choices(countries, weights=list(COUNTRY_WEIGHTS.values()), k=536 - len(countries))
    rng.shuffle(picks)
    result = []
    for n, country in enumerate(picks):
        surname, surname_zh = rng.choice(SURNAMES)
        given, given_zh = rng.choice(GIVEN_NAMES)
        pattern = rng.choice(ORGANIZATION_PATTERNS)
        result.append(Delegate(
            key=f"delegate-{n:04d}", full_name=f"{surname} {given}", name_zh=surname_zh + given_zh,
            country=country, city=None, organization=pattern.format(name=country_name(country)),
            email=f"{given.lower().replace(' ', '.')}.{surname.lower()}.{n:04d}@delegates.example.org",
            category=rng.choice(CATEGORIES), checks_in=rng.random() < 0.93, cancels=False,
            listed_publicly=n % 3 != 2))  # from the index, not the seeded draws: every other pick stays as it was
    for d in rng.sample(result, 8):  # a few cannot come after all
        d.cancels, d.checks_in = True, False
    return result


def _organizations(rng: random.Random) -> list[Organization]:
    countries = sorted(COUNTRY_WEIGHTS, key=lambda c: -COUNTRY_WEIGHTS[c])[:NETWORK_COUNTRIES]
    extra = rng.choices(countries[:20], k=18)  # the big communities have more than one member
    result = []
    used: set[tuple[str, str]] = set()
    for n, country in enumerate(countries + extra):
        for pattern in rng.sample(ORGANIZATION_PATTERNS, len(ORGANIZATION_PATTERNS)):
            name = pattern.format(name=country_name(country))
            if (country, name) not in used:
                break
        used.add((country, name))
        slug = "".join(ch for ch in name.lower() if ch.isalnum())[:30]
        result.append(Organization(key=f"org-{n:03d}", name=name, country=country, kind=rng.choice(NETWORK_KINDS),
                                   website=f"https://{slug}.example.org"))
    return result


def _projects(rng: random.Random, organizations: list[Organization]) -> list[Project]:
    plan = [(sector, size) for sector, (count, size) in SECTOR_PLAN.items() for _ in range(count)]
    assert len(plan) == PROJECT_COUNT
    weights = [size * rng.uniform(0.5, 1.5) for _, size in plan]
    total_fen = int(TOTAL_YUAN * 100)
    # Whole ten-thousands of yuan, as signed on the day; the last one takes the remainder exactly.
    fen = [int(total_fen * w / sum(weights)) // 1_000_000 * 1_000_000 for w in weights]
    fen[-1] += total_fen - sum(fen)
    members_by_country: dict[str, list[Organization]] = {}
    for org in organizations:
        members_by_country.setdefault(org.country, []).append(org)
    overseas = list(members_by_country)
    result = []
    for n, ((sector, _), amount_fen) in enumerate(zip(plan, fen, strict=True)):
        countries = rng.sample(overseas, rng.choice([1, 1, 1, 2]))
        title = rng.choice(PROJECT_TITLES[sector]).format(c=country_name(countries[0]))
        members = [members_by_country[c][0].key for c in countries if rng.random() < 0.6]
        result.append(Project(key=f"project-{n:02d}", title=title, sector=sector,
                              amount=Decimal(amount_fen) / 100, overseas_countries=countries,
                              chinese_party=rng.choice(CHINESE_PARTIES), member_keys=members))
    assert sum(p.amount for p in result) == TOTAL_YUAN and all(p.amount > 0 for p in result)
    return result


def _cases(rng: random.Random, projects: list[Project]) -> list[Case]:
    result = []
    for rank, (sector, title, enterprise, country) in enumerate(CASES, start=1):
        linked = next((p.key for p in projects if p.sector == sector and country in p.overseas_countries), None)
        result.append(Case(key=f"case-{rank:02d}", rank=rank, sector=sector, title=title, enterprise=enterprise,
                           country=country, summary=f"{enterprise}: {title.lower()}.", project_key=linked))
    return result


def _enrollments(rng: random.Random, delegates: list[Delegate]) -> list[tuple[int, str]]:
    attending = [d.key for d in delegates if not d.cancels]
    result = []
    for index, (_, _, capacity) in enumerate(SESSIONS):
        # Popular sessions draw more than they hold: the rest wait-list.
        for key in rng.sample(attending, min(len(attending), int(capacity * rng.uniform(0.7, 1.15)))):
            result.append((index, key))
    return result
