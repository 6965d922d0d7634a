"""The widget capability: what the storefront preorder button, badge, disclaimer and billing widget say."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from openstoq.capability import Capability
from openstoq.context import ActionContext
from openstoq.preorders.capabilities.base import change, declare, path
from openstoq.preorders.offers.models import OfferId
from openstoq.registry import ActionGroup, Payload
from openstoq.validation import Color, RequestModel


class Block(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Button(Block):
    text: str = Field("Preorder now", min_length=1, max_length=100, description="The add-to-cart button text")
    custom_colors: bool = Field(False, description="Use text_color and background_color instead of the theme's")
    text_color: Color = "#ffffff"
    background_color: Color = "#000000"


class Badge(Block):
    enabled: bool = Field(True, description="Show a badge on product images")
    text: str = Field("Preorder", min_length=1, max_length=100)
    text_color: Color = "#ffffff"
    background_color: Color = "#000000"


class Disclaimer(Block):
    enabled: bool = Field(False, description="Show a disclaimer under the button")
    text: str = Field(
        "This item is on preorder and ships when it is back in stock.",
        max_length=1000,
        description="Disclaimer copy",
    )
    text_color: Color = "#000000"
    background_color: Color = "#f4f4f4"
    border_radius: int = Field(4, ge=0, le=50, description="Corner radius in pixels")


class BillingWidget(Block):
    title: str = Field("Preorder payment", min_length=1, max_length=200)
    description: str = Field("Pay now and the item ships when it is available.", max_length=1000)


class Widget(Block):
    """Storefront copy and colours of the preorder widget."""

    button: Button = Button()
    badge: Badge = Badge()
    disclaimer: Disclaimer = Disclaimer()
    billing_widget: BillingWidget = BillingWidget()


WIDGET = Capability(
    name="widget",
    model=Widget,
    summary="button text and colours, badge, disclaimer and billing widget copy",
    toggles=("badge.enabled", "button.custom_colors", "disclaimer.enabled"),
    aliases=("widget", "preorder button", "storefront copy"),
)

actions = ActionGroup()
declare(actions, WIDGET)
PATH = path(WIDGET)


# --- named actions: the common narrow edits -------------------------------------------------------


def _at_least_one(model: BaseModel, *names: str) -> None:
    if all(getattr(model, name) is None for name in names):
        raise ValueError(f"send at least one of: {', '.join(names)}")


class SetText(RequestModel):
    text: str = Field(min_length=1, max_length=100, description="The new text (required, not null)")


class SetLongText(RequestModel):
    text: str = Field(max_length=1000, description="The new text (required, not null; empty hides nothing)")


class SetColors(RequestModel):
    text_color: Color | None = None
    background_color: Color | None = None

    @model_validator(mode="after")
    def _some(self) -> SetColors:
        _at_least_one(self, "text_color", "background_color")
        return self


class SetDisclaimerStyle(SetColors):
    border_radius: int | None = Field(None, ge=0, le=50)

    @model_validator(mode="after")
    def _some(self) -> SetDisclaimerStyle:
        _at_least_one(self, "text_color", "background_color", "border_radius")
        return self


class SetBillingWidgetText(RequestModel):
    title: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=1000)

    @model_validator(mode="after")
    def _some(self) -> SetBillingWidgetText:
        _at_least_one(self, "title", "description")
        return self


def _sent(body: BaseModel) -> dict[str, Any]:
    return {k: v for k, v in body.model_dump().items() if v is not None}


def named(
    name: str,
    description: str,
    request: type[BaseModel],
    section: str,
    *,
    aliases: tuple[str, ...],
    extra: dict[str, Any] | None = None,
) -> None:
    """Declare ``POST .../widget/<name>``: the body's keys land in ``section`` of the block."""

    async def handler(ctx: ActionContext, body: BaseModel, *, id: OfferId) -> Payload:
        patch = {section: {**_sent(body), **(extra or {})}}
        return await change(ctx, id, WIDGET, patch, name)

    actions.action(name, "POST", f"{PATH}/{name}", description, aliases=aliases, request=request, response=Widget)(
        handler
    )


named(
    "set_button_text",
    "Set the preorder button text shoppers see instead of 'Add to cart'.",
    SetText,
    "button",
    aliases=("change preorder button text", "rename the button", "button label", "change button copy"),
)
named(
    "set_button_colors",
    "Set the preorder button's text and background colours (#rrggbb); turns custom colours on.",
    SetColors,
    "button",
    aliases=("button colour", "style the button", "make the button red"),
    extra={"custom_colors": True},
)
named(
    "set_badge_text",
    "Set the text of the preorder badge on product images.",
    SetText,
    "badge",
    aliases=("badge label", "change badge text", "product image label"),
)
named(
    "set_badge_colors",
    "Set the preorder badge's text and background colours (#rrggbb).",
    SetColors,
    "badge",
    aliases=("badge colour", "style the badge"),
)
named(
    "set_disclaimer_text",
    "Set the disclaimer shown under the preorder button (turn it on with PATCH disclaimer.enabled).",
    SetLongText,
    "disclaimer",
    aliases=("preorder disclaimer", "shipping disclaimer text", "fine print"),
)
named(
    "set_disclaimer_style",
    "Set the disclaimer's text colour, background colour (#rrggbb) and corner radius (0-50 px).",
    SetDisclaimerStyle,
    "disclaimer",
    aliases=("disclaimer colours", "style the disclaimer"),
)
named(
    "set_billing_widget_text",
    "Set the billing widget's title and description (how preorder payment is explained at purchase).",
    SetBillingWidgetText,
    "billing_widget",
    aliases=("payment explanation", "billing text", "deposit widget copy"),
)
