"""Process endpoints for applicants and reviewers (personal tokens): the pages' services, as JSON."""
from flask_smorest import Blueprint

from .security import protect

blp = Blueprint("api_processes", __name__, description="业务办理：申请人与审核人（个人令牌）")
protect(blp)
