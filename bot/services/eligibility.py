"""Eligibility: the programme's rules applied to an application's answers.

A rule whose question was not shown (a powiat rule for a gmina) does not apply. Where the
official figure is missing, the person's own statement decides and staff are asked to check.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.programme import AudienceSpec, Rule
from bot.services.answers import compare, resolve


@dataclass(frozen=True)
class Reason:
    """Why an application is not eligible: the rule's text and the numbers it mentions."""

    texts: dict[str, str]
    value: Any = None
    limit: Any = None

    def as_json(self) -> dict[str, Any]:
        return {"texts": self.texts, "value": self.value, "limit": self.limit}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Reason:
        return cls(texts=data["texts"], value=data.get("value"), limit=data.get("limit"))


@dataclass(frozen=True)
class Verdict:
    eligible: bool
    reasons: list[Reason] = field(default_factory=list)
    needs_review: bool = False


def _value_for(rule: Rule, answers: dict[str, Any]) -> tuple[Any, bool]:
    """The value a rule looks at, and whether it came from the person's own statement."""
    value = resolve(answers, rule.field)
    if value is None and rule.fallback_field:
        return resolve(answers, rule.fallback_field), True
    return value, False


def applies(rule: Rule, answers: dict[str, Any]) -> bool:
    if rule.op in ("present", "absent"):
        return True
    return rule.question_id in answers or (
        rule.fallback_field is not None and rule.fallback_field.split(".", 1)[0] in answers
    )


def check_rule(rule: Rule, answers: dict[str, Any]) -> tuple[bool, Any, bool]:
    """(passes, the value looked at, decided by the person's statement)."""
    value, stated = _value_for(rule, answers)
    return compare(value, rule.op, rule.value), value, stated


def evaluate(spec: AudienceSpec, answers: dict[str, Any]) -> Verdict:
    reasons: list[Reason] = []
    needs_review = False
    for rule in spec.eligibility:
        if not applies(rule, answers):
            continue
        passes, value, stated = check_rule(rule, answers)
        needs_review = needs_review or stated
        if not passes:
            reasons.append(Reason(rule.reason.model_dump(), value=value, limit=rule.value))
    return Verdict(eligible=not reasons, reasons=reasons, needs_review=needs_review)


def official_checks(spec: AudienceSpec, question_id: str, answers: dict[str, Any]) -> list[bool]:
    """Whether a picked place meets the rules on its official figures ("population ≤ limit"),
    shown right when it is picked; rules without an official figure to look at are left out."""
    checks = []
    for rule in spec.eligibility:
        if rule.question_id != question_id or "." not in rule.field:
            continue
        value = resolve(answers, rule.field)
        if value is not None:
            checks.append(compare(value, rule.op, rule.value))
    return checks
