"""Helpers for the API tests: tokens, JSON calls, pushed payloads."""
from itertools import count

from handlers import api_tokens
from handlers.models import CONSTRUCTOR, SAFETY_B, SAFETY_C, SUPERVISION_ENGINEER

from .world import credit_code, id_card

_n = count(5000)


def machine_token(scopes="projects:write,projects:read,people:write,people:read", client="工改系统") -> str:
    return api_tokens.create_client_token(client, scopes)[1]


def personal_token(username: str) -> str:
    return api_tokens.create_personal_token(username)[1]


def auth(token: str, **headers) -> dict:
    return {"Authorization": f"Bearer {token}", **headers}


def org_ref(org) -> dict:
    return {"credit_code": org.credit_code, "name": org.name}


def person_payload(world, name, org_key="contractor", certs=(CONSTRUCTOR, SAFETY_B), number=None) -> dict:
    n = number or next(_n)
    return {"id_card": id_card(n), "name": name, "employer": org_ref(world.org(org_key)),
            "certificates": [{"kind": c, "number": f"Z{n:06d}{i}"} for i, c in enumerate(certs)]}


def project_payload(world, supervision_no, personnel=None, contract_no=None, **extra) -> dict:
    return {"supervision_no": supervision_no, "name": f"工程{supervision_no}", "contract_no": contract_no,
            "permit_no": None, "status": "在建",
            "construction_unit": org_ref(world.org("owner")), "contractor": org_ref(world.org("contractor")),
            "supervising_firm": org_ref(world.org("firm")), "authority": org_ref(world.org("authority")),
            "agency": org_ref(world.org("agency")), "personnel": personnel or {}, **extra}


def new_credit_code() -> str:
    return credit_code(next(_n))


CERTS = {"pm": (CONSTRUCTOR, SAFETY_B), "so": (SAFETY_C,), "cs": (SUPERVISION_ENGINEER,)}
