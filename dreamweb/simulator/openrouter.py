"""placeholder"""

from dreamweb.simulator.dialect import Dialect


class OpenRouterVideos(Dialect):
    name = "openrouter"
    route_faults = {}

    def rules(self):
        return []

    def deliveries(self):
        return []
