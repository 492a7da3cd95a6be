"""placeholder"""

from dreamweb.simulator.dialect import Dialect


class VertexVeo(Dialect):
    name = "vertex"
    route_faults = {}

    def __init__(self, core, media, tokens):
        super().__init__(core, media)

    def rules(self):
        return []
