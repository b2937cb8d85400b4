"""Demo data: a small Yunnan province with regulators, enterprises, people, projects,
key-personnel assignments (locked by the lock rule), logins and a few applications in flight.

``flask demo load [--if-empty] [--scale 1.0] [--seed 7]`` or ``load_demo()``.
Everything is derived from one seeded ``random.Random``, so a load is reproducible.
The logins are listed in docs/demo-logins.md; all share the password ``demo1234``.
"""
import random
from datetime import date, datetime, time, timedelta
from decimal import Decimal

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import func, select
from werkzeug.security import generate_password_hash

from engine import timers
from engine.db import db
from engine.models import utcnow

from . import lock_rule
from .applications import Upload
from .corrections import Requested
from .processes.unlock import UNLOCK_FORM
from .codes import credit_code_check_char, id_card_check_char
from .demo_files import ACCEPTANCE_REPORT_PDF, APPOINTMENT_PDF, BUSINESS_LICENCE_PDF, UNLOCK_FORM_PDF
from .models import (
    ACTIVE, AGENCY, AUTHORITY, CHIEF_SUPERVISOR, COMPLETED, CONSTRUCTION_UNIT, CONSTRUCTOR, CONTRACTOR,
    DESIGNER, PENDING, PLATFORM, POST_BUILDER, POST_QUALITY, PROJECT_MANAGER, QUALITY_OFFICER, SAFETY_B, SAFETY_C,
    SAFETY_OFFICER, SUPERVISING_FIRM, SUPERVISION_ENGINEER, SUPERVISOR, UNDER_CONSTRUCTION, Account, Assignment,
    Certificate, LockRecord, Organization, Person, Project, RosterEntry, User,
)
from .principal import Principal

DEMO_PASSWORD = "demo1234"

# -- the province ---------------------------------------------------------------------
# key, city, administrative code, districts (name, code), landline area code
CITIES = [
    ("km", "昆明市", "530100", [("五华区", "530102"), ("盘龙区", "530103"), ("官渡区", "530111"),
                               ("西山区", "530112"), ("呈贡区", "530114")], "0871"),
    ("dl", "大理州", "532900", [("大理市", "532901"), ("祥云县", "532923"), ("宾川县", "532924")], "0872"),
    ("qj", "曲靖市", "530300", [("麒麟区", "530302"), ("沾益区", "530303"), ("宣威市", "530381")], "0874"),
    ("yx", "玉溪市", "530400", [("红塔区", "530402"), ("江川区", "530403"), ("澄江市", "530481")], "0877"),
]
CITY_STREETS = {
    "km": ["人民中路", "北京路", "滇池路", "金碧路", "东风西路", "彩云北路"],
    "dl": ["苍山路", "洱河南路", "泰安路", "建设路"],
    "qj": ["麒麟南路", "南宁西路", "寥廓北路", "珠江源大道"],
    "yx": ["玉兴路", "聂耳路", "红塔大道", "东风南路"],
}

# username, name, city key, district index
CONSTRUCTION_UNITS = [
    ("js1", "云南城投置业股份有限公司", "km", 0),
    ("js2", "昆明市公共租赁住房开发建设管理有限公司", "km", 2),
    ("js3", "大理州城市建设投资开发有限责任公司", "dl", 0),
    ("js4", "曲靖市城市建设投资开发有限公司", "qj", 0),
    ("js5", "玉溪市城市建设投资开发有限公司", "yx", 0),
    ("js6", "云南滇中新区开发投资有限公司", "km", 4),
]
CONTRACTORS = [
    ("sg1", "云南建投第一建设有限公司", "km", 1),
    ("sg2", "云南建投第二建设有限公司", "km", 2),
    ("sg3", "云南工程建设总承包股份有限公司", "km", 3),
    ("sg4", "昆明建工集团有限公司", "km", 0),
    ("sg5", "大理鸿达建筑工程有限公司", "dl", 0),
    ("sg6", "曲靖市建筑工程有限责任公司", "qj", 0),
    ("sg7", "玉溪市建筑安装工程有限公司", "yx", 0),
    ("sg8", "云南建投第六建设有限公司", "yx", 0),
]
SUPERVISING_FIRMS = [
    ("jl1", "云南城市建设工程咨询有限公司", "km", 0),
    ("jl2", "昆明建设咨询监理有限公司", "km", 1),
    ("jl3", "大理州建设监理有限公司", "dl", 0),
    ("jl4", "云南新迪建设咨询监理有限公司", "qj", 0),
]
# regulator reviewers: username, city key, kind, reviewer name
REVIEWERS = [
    ("km_zjj", "km", AUTHORITY, "李建华"), ("km_zjj2", "km", AUTHORITY, "王丽萍"),
    ("km_jdz", "km", AGENCY, "赵志强"),
    ("dl_zjj", "dl", AUTHORITY, "段晓云"), ("dl_jdz", "dl", AGENCY, "杨海波"),
    ("qj_zjj", "qj", AUTHORITY, "孙国庆"), ("qj_jdz", "qj", AGENCY, "刘春梅"),
    ("yx_zjj", "yx", AUTHORITY, "周文斌"), ("yx_jdz", "yx", AGENCY, "钱玉琴"),
]
ADMIN_USERNAME = "admin"
DESIGNER_USERNAME = "designer"                  # 流程设计: the studio
MULTI_ROLE_USERNAME = "multi"                   # one person, a contractor and a supervising firm account
MULTI_ROLE_ORGS = ("sg1", "jl1")
PENDING_USERNAME, REJECTED_USERNAME = "pending_sg", "rejected_js"
REJECT_REASON = "上传的营业执照与填写的统一社会信用代码不一致，请核实后重新注册"

DEMO_USERNAMES = ([ADMIN_USERNAME, DESIGNER_USERNAME] + [r[0] for r in REVIEWERS] + [c[0] for c in CONSTRUCTION_UNITS]
                  + [c[0] for c in CONTRACTORS] + [f[0] for f in SUPERVISING_FIRMS]
                  + [MULTI_ROLE_USERNAME, PENDING_USERNAME, REJECTED_USERNAME])

# the logins to start with, as scripts/run prints them and the README's table lists them
FIRST_LOGINS = (
    ("sg1", "施工单位 (contractor): 人员解锁申请, 项目主要管理人员变更"),
    ("jl1", "监理单位 (supervising firm): chief-supervisor changes and unlocks"),
    ("js1", "建设单位 (construction unit): 工程报监, 竣工验收备案, 施工许可证补录 (one of its projects awaits "
            "its permit number), 变更工程信息, 变更工程人员, 变更参建单位"),
    ("km_zjj / km_jdz", "昆明 主管部门 / 监督机构 reviewers: 待办, 签收, 审核"),
    ("multi", "one person with two accounts: chooses the role at login, or on the phone with 扫码登录"),
    ("admin", "平台管理员: 注册审核 (in 待办: 签收, 审核通过 / 退回), 流程定义 and incidents"),
    ("designer", "流程设计: the studio (/studio/) — modeler, form designer, checks, process tests, deploy with a "
                 "change note, version comparison, live counts"),
)

SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史顾侯邵孟龙万段雷钱汤尹黎易常武乔贺赖龚文"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红建国文斌志鹏云海波辉林春梅晓东宇浩然俊峰雪琳亮斌成龙飞凤"

PROJECT_KINDS = [
    "保障性住房项目", "安置房项目", "人民医院门诊综合楼", "第一中学教学楼", "商业综合体", "城市更新改造项目",
    "职业技术学院实训楼", "妇幼保健院住院楼", "体育中心", "市政道路提升改造工程", "污水处理厂扩建工程",
    "文化活动中心", "公共租赁住房项目", "产业园标准厂房", "综合交通枢纽",
]
PROJECT_PLACES = ["春城", "金碧", "滇池", "翠湖", "洱海", "苍山", "珠江源", "抚仙湖", "聂耳", "彩云", "七彩", "鸿源",
                  "锦绣", "新城", "东盛", "阳光"]
ACCEPTANCE_CONCLUSION = "工程质量符合设计及规范要求，同意竣工验收。"


class _Gen:
    """Deterministic identifiers and names."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.codes, self.cards, self.names, self.numbers = set(), set(), set(), set()

    def credit_code(self, prefix: str, region: str) -> str:
        alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
        while True:
            body = prefix + region + "".join(self.rng.choice(alphabet) for _ in range(9))
            code = body + credit_code_check_char(body)
            if code not in self.codes:
                self.codes.add(code)
                return code

    def id_card(self, region: str) -> str:
        while True:
            born = date(1965, 1, 1) + timedelta(days=self.rng.randrange(0, 30 * 365))
            body = f"{region}{born:%Y%m%d}{self.rng.randrange(0, 1000):03d}"
            card = body + id_card_check_char(body)
            if card not in self.cards:
                self.cards.add(card)
                return card

    def name(self) -> str:
        for _ in range(50):
            given = "".join(self.rng.choice(GIVEN) for _ in range(self.rng.choice((1, 2, 2))))
            name = self.rng.choice(SURNAMES) + given
            if name not in self.names:
                break
        self.names.add(name)
        return name

    def mobile(self) -> str:
        return self.rng.choice(("139", "138", "137", "158", "187", "188", "151", "135")) + \
            f"{self.rng.randrange(0, 10 ** 8):08d}"

    def unique(self, fmt) -> str:
        while True:
            value = fmt()
            if value not in self.numbers:
                self.numbers.add(value)
                return value

    def certificate(self, kind: str) -> Certificate:
        r, year = self.rng, self.rng.randrange(2008, 2023)
        formats = {
            CONSTRUCTOR: lambda: f"云153{year % 100:02d}{r.randrange(10 ** 7):07d}",
            SAFETY_B: lambda: f"云建安B（{year}）{r.randrange(10 ** 7):07d}",
            SAFETY_C: lambda: f"云建安C（{year}）{r.randrange(10 ** 7):07d}",
            SUPERVISION_ENGINEER: lambda: f"53{year % 100:02d}{r.randrange(10 ** 6):06d}",
            SUPERVISOR: lambda: f"云监员{year}{r.randrange(10 ** 5):05d}",
            POST_QUALITY: lambda: f"云岗质{year}{r.randrange(10 ** 6):06d}",
            POST_BUILDER: lambda: f"云岗施{year}{r.randrange(10 ** 6):06d}",
        }
        return Certificate(kind=kind, number=self.unique(formats[kind]))


def _city(key):
    return next(c for c in CITIES if c[0] == key)


def _designer(rng: random.Random, password_hash: str) -> User:
    """The process designers' group of the department (流程设计) and its login."""
    gen = _Gen(rng)
    group = Organization(kind=DESIGNER, name="云南省住房和城乡建设厅信息中心（流程设计）",
                         credit_code=gen.credit_code("12", "530000"), contact_person="李设计",
                         contact_phone="0871-64195730", legal_representative=gen.name(),
                         address="云南省昆明市西山区西园路 390 号", region="云南省昆明市西山区")
    user = User(username=DESIGNER_USERNAME, password_hash=password_hash, name="李设计", mobile=gen.mobile())
    db.session.add_all([group, user, Account(user=user, org=group, status=ACTIVE, reviewed_at=utcnow())])
    return user


def load_demo(scale: float = 1.0, seed: int = 7) -> dict:
    """Load the demo province into the (empty) database; returns what it created."""
    rng = random.Random(seed)
    gen = _Gen(rng)
    password_hash = generate_password_hash(DEMO_PASSWORD)
    now = utcnow()

    def org(kind, name, city_key, district=0, prefix="91", contact=None, phone=None):
        key, city, city_code, districts, area = _city(city_key)
        dname, dcode = districts[district % len(districts)]
        o = Organization(
            kind=kind, name=name, credit_code=gen.credit_code(prefix, dcode if prefix == "91" else city_code),
            contact_person=contact or gen.name(), contact_phone=phone or gen.mobile(),
            legal_representative=gen.name(),
            address=f"云南省{city}{dname}{rng.choice(CITY_STREETS[key])}{rng.randrange(1, 400)}号",
            region=f"云南省{city}{dname}")
        db.session.add(o)
        return o

    def login(username, name, account_orgs, status=ACTIVE, reason=None):
        user = User(username=username, password_hash=password_hash, name=name, mobile=gen.mobile())
        db.session.add(user)
        for o in account_orgs:
            db.session.add(Account(user=user, org=o, status=status, reject_reason=reason,
                                   reviewed_at=None if status == PENDING else now))
        return user

    # -- organisations and their logins -------------------------------------------------
    platform = org(PLATFORM, "云南省住房和城乡建设厅", "km", 0, prefix="11", phone="0871-64195721")
    platform.address = "云南省昆明市西山区西园路 390 号"
    authorities, agencies = {}, {}
    for key, city, _code, _d, area in CITIES:
        def landline():   # Kunming numbers have eight digits, the other cities seven
            return f"{area}-" + (f"6{rng.randrange(10 ** 7):07d}" if key == "km" else f"{rng.randrange(2000000, 9999999)}")
        authorities[key] = org(AUTHORITY, f"{city}住房和城乡建设局", key, prefix="11", phone=landline())
        agencies[key] = org(AGENCY, f"{city}建设工程质量安全监督站", key, prefix="12", phone=landline())
    enterprises = {}
    for kind, rows in ((CONSTRUCTION_UNIT, CONSTRUCTION_UNITS), (CONTRACTOR, CONTRACTORS),
                       (SUPERVISING_FIRM, SUPERVISING_FIRMS)):
        for username, name, city_key, district in rows:
            o = org(kind, name, city_key, district)
            o.business_scope = {CONSTRUCTION_UNIT: "房地产开发经营；城市基础设施投资建设",
                                CONTRACTOR: "房屋建筑工程施工总承包；市政公用工程施工总承包",
                                SUPERVISING_FIRM: "房屋建筑工程监理；市政公用工程监理；工程造价咨询"}[kind]
            enterprises[username] = o
    db.session.flush()

    login(ADMIN_USERNAME, "陈立新", [platform])
    regulator_accounts = {}
    for username, city_key, kind, name in REVIEWERS:
        o = (authorities if kind == AUTHORITY else agencies)[city_key]
        user = login(username, name, [o])
        regulator_accounts.setdefault(o.id, user)
    for username, o in enterprises.items():
        login(username, o.contact_person, [o])
    login(MULTI_ROLE_USERNAME, "张建明", [enterprises[k] for k in MULTI_ROLE_ORGS])
    newcomer = org(CONTRACTOR, "云南恒信建筑工程有限公司", "qj", 1)
    login(PENDING_USERNAME, newcomer.contact_person, [newcomer], status=PENDING)
    refused = org(CONSTRUCTION_UNIT, "昆明鑫盛房地产开发有限公司", "km", 3)
    login(REJECTED_USERNAME, refused.contact_person, [refused], status=PENDING)   # returned below, on the engine
    _designer(random.Random(seed + 1), password_hash)   # its own generator: the province stays as before
    db.session.flush()

    # -- projects -----------------------------------------------------------------------
    contractors = [enterprises[c[0]] for c in CONTRACTORS]
    firms = [enterprises[f[0]] for f in SUPERVISING_FIRMS]
    owners = [(enterprises[c[0]], c[2]) for c in CONSTRUCTION_UNITS]
    n_projects = max(8, round(60 * scale))
    projects, names, seq = [], set(), 0
    while len(projects) < n_projects:
        owner, home = rng.choice(owners)
        city_key = home if rng.random() < 0.7 else rng.choice(CITIES)[0]
        key, city, city_code, districts, _area = _city(city_key)
        district = rng.choice(districts)[0]
        base = f"{district}{rng.choice(PROJECT_PLACES)}{rng.choice(PROJECT_KINDS)}"
        if base in names:
            continue
        names.add(base)
        contractor, firm = rng.choice(contractors), rng.choice(firms)
        registered = date(2021, 3, 1) + timedelta(days=rng.randrange(0, 1100))
        phases = ["一期", "二期"] + (["三期"] if rng.random() < 0.3 else []) if rng.random() < 0.15 else [""]
        phases = phases[:max(1, n_projects - len(projects))]
        seq += 1
        contract_no = f"HT{city_code}{registered:%Y}{seq:05d}"
        for phase in phases:
            seq += 1
            project = Project(
                name=base + phase, contract_no=contract_no,
                supervision_no=f"BJ{city_code}{registered:%Y}{seq:05d}",
                permit_no=None if rng.random() < 0.15 else f"{city_code}{registered:%Y%m%d}{seq % 100:02d}01",
                address=f"云南省{city}{district}{rng.choice(CITY_STREETS[key])}以{rng.choice('东南西北')}",
                construction_unit_id=owner.id, contractor_id=contractor.id, supervising_firm_id=firm.id,
                authority_id=authorities[key].id, agency_id=agencies[key].id, registered_at=registered)
            projects.append(project)
    completed = rng.sample(range(len(projects)), max(1, round(len(projects) * 0.1)))
    for i in completed:
        p = projects[i]
        p.status = COMPLETED
        p.completed_at = min(p.registered_at + timedelta(days=rng.randrange(300, 700)), date.today())
        p.permit_no = p.permit_no or f"{p.supervision_no[2:8]}{p.registered_at:%Y%m%d}0001"
    # a project whose contract shares its number with another keeps the same status (one contract)
    by_contract = {}
    for p in projects:
        by_contract.setdefault(p.contract_no, []).append(p)
    for group in by_contract.values():
        done = next((p for p in group if p.status == COMPLETED), None)
        if done is not None:
            for p in group:
                p.status, p.completed_at, p.permit_no = COMPLETED, done.completed_at, p.permit_no or done.permit_no
    _awaiting_permit(projects, enterprises[CONSTRUCTION_UNITS[0][0]])
    db.session.add_all(projects)
    db.session.flush()

    # -- people -------------------------------------------------------------------------
    def person(o, *certs) -> Person:
        region = rng.choice(_city(rng.choice(CITIES)[0])[3])[1] if rng.random() < 0.4 else \
            next(d[1] for c in CITIES for d in c[3] if o.region.endswith(d[0]))
        p = Person(name=gen.name(), id_card=gen.id_card(region), enterprise_id=o.id)
        p.certificates = [gen.certificate(c) for c in certs]
        db.session.add(p)
        people.append(p)
        return p

    people: list[Person] = []
    assignments = 0

    def assign(p, project, role, ended=False):
        nonlocal assignments
        started = datetime.combine(project.registered_at, time(9, 0)) + timedelta(minutes=assignments)
        a = Assignment(person=p, project=project, role=role, started_at=started)
        if ended:
            a.ended_at = datetime.combine(project.completed_at, time(17, 0))
            a.end_reason = "竣工验收备案生效"
        db.session.add(a)
        assignments += 1
        db.session.flush()
        if not ended:
            lock_rule.apply_lock_rule(p, project_hint=project.id)

    groups = list(by_contract.values())
    for o in contractors:
        active = [g for g in groups if g[0].contractor_id == o.id and g[0].status == UNDER_CONSTRUCTION]
        done = [g for g in groups if g[0].contractor_id == o.id and g[0].status == COMPLETED]
        pms = [person(o, CONSTRUCTOR, SAFETY_B) for _ in active]
        sos = [person(o, SAFETY_C) for _ in active]
        for group, pm, so in zip(active, pms, sos):
            for project in group:
                assign(pm, project, PROJECT_MANAGER)
                assign(so, project, SAFETY_OFFICER)
        # replacements: qualified, and some that each lack one certificate
        spare_pms = [person(o, CONSTRUCTOR, SAFETY_B) for _ in range(2)]
        spare_sos = [person(o, SAFETY_C) for _ in range(2)]
        person(o, CONSTRUCTOR)
        person(o, SAFETY_B)
        person(o, SAFETY_B, SAFETY_C)
        for group in done:      # completed projects: their people left them, some are busy elsewhere
            pm = rng.choice(pms + spare_pms)
            so = rng.choice(sos + spare_sos)
            for project in group:
                assign(pm, project, PROJECT_MANAGER, ended=True)
                assign(so, project, SAFETY_OFFICER, ended=True)
    for o in firms:
        active = [g for g in groups if g[0].supervising_firm_id == o.id and g[0].status == UNDER_CONSTRUCTION]
        done = [g for g in groups if g[0].supervising_firm_id == o.id and g[0].status == COMPLETED]
        chiefs, load, target = [], 0, 0
        for i, group in enumerate(active):
            if load >= target:
                target = (3, 2, 3, 1, 2, 3)[len(chiefs) % 6]
                certs = (SUPERVISION_ENGINEER,) if len(chiefs) % 3 != 2 else (SUPERVISOR,)
                chiefs.append(person(o, *certs))
                load = 0
            for project in group:
                assign(chiefs[-1], project, CHIEF_SUPERVISOR)
            load += 1
        spares = [person(o, SUPERVISION_ENGINEER), person(o, SUPERVISOR), person(o, SUPERVISION_ENGINEER, SUPERVISOR)]
        person(o)   # a site supervisor without a certificate yet
        for group in done:
            cs = rng.choice(chiefs + spares)
            for project in group:
                assign(cs, project, CHIEF_SUPERVISOR, ended=True)
    # pad with staff up to the target head count
    staff_certs = [(), (SAFETY_C,), (CONSTRUCTOR,), (CONSTRUCTOR, SAFETY_B), (SAFETY_B,), (SAFETY_C,)]
    target = round(300 * scale)
    while len(people) < target:
        if rng.random() < 0.75:
            person(rng.choice(contractors), *rng.choice(staff_certs))
        else:
            person(rng.choice(firms), *rng.choice([(SUPERVISOR,), (SUPERVISION_ENGINEER,), ()]))
    _project_facts_and_rosters(random.Random(seed + 1), gen, projects, contractors, people)
    db.session.commit()

    applications = _applications_in_flight(enterprises, regulator_accounts)
    return demo_counts() | {"applications": applications}


def _awaiting_permit(projects, owner) -> None:
    """js1 has a project under construction still without its permit number, so that the
    施工许可证补录 the README offers it can be filed (the seed alone may give it none)."""
    def building(of):
        return sorted((p for p in projects if p.status != COMPLETED and of(p.construction_unit_id)),   # unset: 在建
                      key=lambda p: p.supervision_no)
    own = building(lambda unit: unit == owner.id)
    # a small province may leave it fewer than two (one for its completion filing, one for this):
    # it takes over others' projects under construction, the last ones, none sharing a contract
    others = [p for p in building(lambda unit: unit != owner.id)
              if sum(q.contract_no == p.contract_no for q in projects) == 1]
    while len(own) < 2 and others:
        taken = others.pop()
        taken.construction_unit_id = owner.id
        own.append(taken)
    if len(own) >= 2 and all(p.permit_no for p in own):
        own[-1].permit_no = None


STRUCTURES = ("框架结构", "框架-剪力墙结构", "剪力墙结构", "钢结构", "砖混结构")


def _project_facts_and_rosters(rng, gen, projects, contractors, people) -> None:
    """The projects' descriptive facts (变更工程信息 changes them), each contractor's 质量员 and 施工员
    with their 岗位证书, and a roster for each project under construction (变更工程人员 edits it).
    A random generator of its own, so that everything before it stays as it was."""
    for p in projects:
        area = rng.randrange(30, 900) * 100
        p.scale = f"建筑面积 {area} 平方米"
        p.cost = Decimal(area) * rng.randrange(25, 60) / 100   # 万元
        p.structure_type = rng.choice(STRUCTURES)
        p.planned_start = p.registered_at + timedelta(days=rng.randrange(10, 60))
        p.planned_end = p.planned_start + timedelta(days=rng.randrange(360, 1000))
    posts = {}
    for o in contractors:
        posts[o.id] = []
        for kind in (POST_QUALITY, POST_QUALITY, POST_BUILDER, POST_BUILDER):
            p = Person(name=gen.name(), id_card=gen.id_card("530102"), enterprise_id=o.id)
            p.certificates = [gen.certificate(kind)]
            db.session.add(p)
            people.append(p)
            posts[o.id].append((kind, p))
    db.session.flush()
    for project in projects:
        if project.status != UNDER_CONSTRUCTION:
            continue
        quality = next(p for kind, p in posts[project.contractor_id] if kind == POST_QUALITY)
        db.session.add(RosterEntry(project_id=project.id, person_id=quality.id, role=QUALITY_OFFICER,
                                   org_id=project.contractor_id, started_at=datetime.combine(project.registered_at, time(9))))


def demo_counts() -> dict:
    def n(model, *where):
        return db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0
    return {
        "organizations": n(Organization), "people": n(Person), "projects": n(Project),
        "assignments": n(Assignment), "open_locks": n(LockRecord, LockRecord.closed_at.is_(None)),
        "users": n(User), "accounts": n(Account),
    }


def _applications_in_flight(enterprises: dict, regulator_users: dict) -> int:
    """A few applications filed through the real services, so lists and inboxes are not empty."""
    services = current_app.extensions["services"]
    services.deploy_definitions()

    def principal(username_or_org) -> Principal:
        if isinstance(username_or_org, str):
            user = db.session.scalar(select(User).where(User.username == username_or_org))
            return Principal.of(user.accounts[0])
        user = regulator_users[username_or_org]
        return Principal.of(user.accounts[0])

    created = 0
    form = [Upload(UNLOCK_FORM, "建设工程项目人员解锁申请表.pdf", UNLOCK_FORM_PDF)]

    # sg1: one unlock reported (waiting in the regulators' inbox), one returned, one draft
    sg1 = principal("sg1")
    locks = services.unlock.lockable(sg1)
    reasons = ["项目已停工超过六个月，申请解除该人员锁定", "合同已解除，项目由其他单位承接",
               "工程主体已完工，该人员不再实际履职"]
    for i, lock in enumerate(locks[:3]):
        app = services.unlock.create(sg1, lock.id)
        services.unlock.save(sg1, app.id, {"reason": reasons[i], "explanation": "附项目停工证明及建设单位意见。"},
                             form)
        created += 1
        if i == 2:
            continue
        if i == 0:
            # reported "ten days ago": its 超期预警 and overdue timers fire as soon as a worker runs
            with timers.backdated(timedelta(days=10)):
                services.unlock.report(sg1, app.id)
        else:
            services.unlock.report(sg1, app.id)
        if i == 1:
            reviewer = principal(app.project.agency_id)
            task = services.unlock.open_task(app)
            services.reviews.claim(reviewer, task.id)
            services.reviews.return_(reviewer, task.id, "解锁申请表未加盖单位公章，请补充后重新上报", [
                Requested(UNLOCK_FORM, "申请表未加盖单位公章，或扫描件不清晰"),
                Requested(None, "请补充项目停工的证明材料")])   # a correction notice (一次性告知)

    # jl1: a chief supervisor change to a qualified replacement, reported
    jl1 = principal("jl1")
    for assignment in services.change.changeable(jl1):
        app = services.change.create(jl1, assignment.id)
        choice = next((p for p, problem in services.change.replacement_choices(jl1, app) if problem is None), None)
        if choice is None:
            services.change.withdraw(jl1, app.id)
            continue
        services.change.save(jl1, app.id, {"new_person_id": choice.id, "reason": "原项目总监调任公司技术负责人",
                                           "explanation": "变更后人员已取得相应执业资格。"},
                             [Upload("attachment", "总监任命书.pdf", APPOINTMENT_PDF)])
        services.change.report(jl1, app.id)
        created += 1
        break

    # js1: a completion filing, reported and claimed by the authority's reviewer
    js1 = principal("js1")
    for project in [p for p in services.completion.projects(js1) if p.permit_no][:1]:
        app = services.completion.create(js1, project.id)
        services.completion.save(js1, app.id, {
            "acceptance_date": date.today() - timedelta(days=12), "conclusion": ACCEPTANCE_CONCLUSION,
            "permit_no": project.permit_no or f"{project.supervision_no[2:8]}20230601{project.id % 100:02d}01"},
            [Upload("attachment", "竣工验收报告.pdf", ACCEPTANCE_REPORT_PDF)])
        services.completion.report(js1, app.id)
        reviewer = principal(project.authority_id)
        services.reviews.claim(reviewer, services.completion.open_task(app).id)
        created += 1

    # registrations: one waiting in the administrators' 待办, one returned with its reason
    admin = principal(ADMIN_USERNAME)
    for username in (PENDING_USERNAME, REJECTED_USERNAME):
        user = db.session.scalar(select(User).where(User.username == username))
        reg = services.registration.submit(user.accounts[0], Upload("licence", "营业执照.pdf", BUSINESS_LICENCE_PDF))
        if username == REJECTED_USERNAME:
            task = services.registration.open_task(reg)
            services.reviews.claim(admin, task.id)
            services.reviews.submit(admin, task.id, {"decision": "return", "reason": REJECT_REASON})
    return created


@click.group("demo", help="Demo data.")
def demo_command():
    pass


@demo_command.command("load", help="Load the demo province (logins: docs/demo-logins.md).")
@click.option("--if-empty", is_flag=True, help="Do nothing when the database already has organisations.")
@click.option("--scale", type=float, default=1.0, show_default=True, help="Size factor for people and projects.")
@click.option("--seed", type=int, default=7, show_default=True, help="Random seed.")
@with_appcontext
def demo_load(if_empty, scale, seed):
    if db.session.scalar(select(Organization.id).limit(1)) is not None:
        if if_empty:
            click.echo("demo data skipped: the database already has organisations")
            return
        raise click.ClickException("the database already has organisations; load the demo into an empty one")
    counts = load_demo(scale=scale, seed=seed)
    click.echo("demo data loaded: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    click.echo(f"password for every demo login: {DEMO_PASSWORD}")


@demo_command.command("logins", help="Print where the application listens and the demo logins to start with.")
@click.option("--url", default="http://127.0.0.1:5000", show_default=True, help="The address the server listens on.")
def demo_logins(url):
    click.echo(f"\n  质量安全管理系统: open {url}/  (public progress lookup: {url}/progress)")
    click.echo(f"  demo logins, password {DEMO_PASSWORD} (all of them: docs/demo-logins.md):")
    width = max(len(username) for username, _ in FIRST_LOGINS)
    for username, acts_as in FIRST_LOGINS:
        click.echo(f"    {username.ljust(width)}  {acts_as}")
    click.echo("")
