from django.apps import AppConfig


class GatewayConfig(AppConfig):
    name = "playground.gateway"
    label = "gateway"
