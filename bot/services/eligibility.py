"""Eligibility: the programme's rules applied to an application's answers.

A rule whose question was not shown (a powiat rule for a gmina) does not apply. Where the
official figure is missing, the person's own statement decides and staff are asked to check.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bot.programme import AudienceSpec, Rule
from bot.services.answers import compare, resolve


@dataclass(frozen=True)
class Reason:
    """Why an application is not eligible: the rule's text, the answer it looked at and the
    rule's value, and the rule's field (whose question's kind says how to show them)."""

    texts: dict[str, str]
    value: Any = None
    limit: Any = None
    field: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"texts": self.texts, "value": self.value, "limit": self.limit, "field": self.field}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Reason:
        return cls(
            texts=data["texts"],
            value=data.get("value"),
            limit=data.get("limit"),
            field=data.get("field"),  # None in reasons stored before it was kept
        )


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


def _reason(rule: Rule, value: Any) -> Reason:
    return Reason(rule.reason.model_dump(), value=value, limit=rule.value, field=rule.field)


def evaluate(spec: AudienceSpec, answers: dict[str, Any]) -> Verdict:
    return _verdict(spec, answers, applies)


def _verdict(
    spec: AudienceSpec, answers: dict[str, Any], counts: Callable[[Rule, dict[str, Any]], bool]
) -> Verdict:
    """The verdict of the rules that `counts` (every rule that applies, or only those decided)."""
    reasons: list[Reason] = []
    needs_review = False
    for rule in spec.eligibility:
        if not counts(rule, answers):
            continue
        passes, value, stated = check_rule(rule, answers)
        needs_review = needs_review or stated
        if not passes:
            reasons.append(_reason(rule, value))
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


def _inputs(rule: Rule) -> set[str]:
    return {field.split(".", 1)[0] for field in (rule.field, rule.fallback_field) if field}


def decided(rule: Rule, answers: dict[str, Any]) -> bool:
    """Every answer the rule reads is given: its question's, and where the official figure
    is missing, the person's own statement. `answers` holds the shown, complete answers only."""
    if rule.question_id not in answers:
        return False
    if rule.fallback_field is not None and resolve(answers, rule.field) is None:
        return rule.fallback_field.split(".", 1)[0] in answers
    return True


def decided_verdict(spec: AudienceSpec, answers: dict[str, Any]) -> Verdict:
    """The verdict of the rules already decided: what an application stopped early is."""
    return _verdict(spec, answers, decided)


def ruled_out_by(spec: AudienceSpec, answers: dict[str, Any], question_id: str) -> list[Reason]:
    """Reasons the answer to `question_id` already decides against the application: rules
    that read it and whose every input is known. Rules on questions not answered yet wait."""
    return [
        reason
        for rule, reason in _failing_decided(spec, answers)
        if question_id in _inputs(rule)
    ]


def _failing_decided(spec: AudienceSpec, answers: dict[str, Any]) -> list[tuple[Rule, Reason]]:
    failing = []
    for rule in spec.eligibility:
        if decided(rule, answers):
            passes, value, _stated = check_rule(rule, answers)
            if not passes:
                failing.append((rule, _reason(rule, value)))
    return failing
