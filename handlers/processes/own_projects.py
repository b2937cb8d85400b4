"""The applications a construction unit files on one of its projects under construction
(竣工验收备案, 施工许可证补录, 变更工程信息, 变更工程人员, 变更参建单位): the same picker list and the
same checks when one is started."""
from sqlalchemy import select

from engine.db import db

from ..applications import ApplicationService
from ..catalog import ALL_PICKS, PickFilter
from ..errors import DomainError, NotFound
from ..models import UNDER_CONSTRUCTION, Project
from ..principal import Principal

NOT_UNDER_CONSTRUCTION = "该工程已不在建"


class OwnProjectService(ApplicationService):
    not_own = "只能为本单位的工程办理该业务"            # the 404 when the project is another unit's
    not_under_construction = NOT_UNDER_CONSTRUCTION   # the refusal when it is finished

    def projects(self, principal: Principal, flt: PickFilter = ALL_PICKS) -> list[Project]:
        """The principal's unit's projects under construction, by name (the picker)."""
        self._require_kind(principal)
        return list(db.session.scalars(flt.apply(select(Project).where(
            Project.construction_unit_id == principal.org_id, Project.status == UNDER_CONSTRUCTION)
            .order_by(Project.name, Project.id), Project.name, Project.supervision_no)))

    def _own_project(self, principal: Principal, project_id: int) -> Project:
        """The project an application is started on (inside the starting command): the unit's own
        (else 404, as for any id not one's own) and still under construction."""
        self._require_kind(principal)
        project = db.session.get(Project, project_id)
        if project is None or project.construction_unit_id != principal.org_id:
            raise NotFound(self.not_own)
        if project.status != UNDER_CONSTRUCTION:
            raise DomainError(self.not_under_construction)
        return project
