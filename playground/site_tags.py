"""`{% block_text "title" %}`: a block's content once more, as the page that extends the
template filled it. The social tags repeat the title and description blocks with it, so a page
sets each once."""

from django import template
from django.template.loader_tags import BlockNode

register = template.Library()


class BlockTextNode(template.Node):
    def __init__(self, name: str):
        self.name = name

    def render(self, context):
        # A block node of that name renders the page's override of it, as the block itself does.
        return BlockNode(self.name, template.NodeList()).render(context)


@register.tag
def block_text(parser, token):
    try:
        _, name = token.split_contents()
    except ValueError:
        raise template.TemplateSyntaxError("block_text takes one block name.") from None
    return BlockTextNode(name.strip("\"'"))
