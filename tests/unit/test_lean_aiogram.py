"""aiogram's models built on first use (`bot.lean_aiogram`) parse and produce exactly what the
eagerly built ones do. Each side runs in a fresh interpreter: this one imported aiogram long ago.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = r"""
import json, sys
lean = sys.argv[1] == "lean"
if lean:
    from bot import lean_aiogram
    assert lean_aiogram.install()
from aiogram import methods, types
from aiogram.methods.base import Response

built_at_import = sorted(
    name for name in types.__all__
    if getattr(getattr(types, name), "__pydantic_complete__", False)
)
update = {
    "update_id": 7,
    "callback_query": {
        "id": "42", "chat_instance": "1", "data": "bk:12",
        "from": {"id": 5, "is_bot": False, "first_name": "Olena", "language_code": "uk"},
        "message": {
            "message_id": 3, "date": 1760000000, "text": "Зустріч 12 квітня",
            "chat": {"id": 5, "type": "private", "first_name": "Olena"},
            "entities": [{"type": "bold", "offset": 0, "length": 7}],
            "reply_markup": {"inline_keyboard": [[{"text": "Так", "callback_data": "bk:12"}]]},
        },
    },
}
parsed = types.Update.model_validate(update)
send = methods.SendMessage(
    chat_id=5, text="<b>Tak</b>",
    reply_markup=types.InlineKeyboardMarkup(
        inline_keyboard=[[types.InlineKeyboardButton(text="Tak", callback_data="bk:12")]]
    ),
)
# aiogram checks an answer with Response[<return type>]; the bot's session middleware hands
# it the class lean_aiogram keeps built (bot.app.KeepResponseTypes).
answer_type = lean_aiogram.response_type(types.Message) if lean else Response[types.Message]
answer = answer_type.model_validate(
    {"ok": True, "result": update["callback_query"]["message"]}
)
if lean:
    from bot import lean_aiogram
    lean_aiogram.warm_up()
print(json.dumps({
    "built_at_import": built_at_import,
    "update": parsed.model_dump(mode="json", exclude_none=True),
    "send": repr(send.model_dump(exclude_none=True)),
    "answer": answer.model_dump(mode="json", exclude_none=True),
    "callback_data": parsed.callback_query.message.reply_markup.inline_keyboard[0][0].callback_data,
    "message_complete": types.Message.__pydantic_complete__,
}))
"""


def _run(mode: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, mode],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout.splitlines()[-1])
    return result


def test_models_built_on_first_use_match_eager_ones() -> None:
    eager, lean = _run("eager"), _run("lean")

    assert len(eager["built_at_import"]) > 300  # aiogram builds every type at import…
    assert lean["built_at_import"] == []  # …unless lean_aiogram keeps it from doing so
    for key in ("update", "send", "answer", "callback_data"):
        assert lean[key] == eager[key], key
    assert lean["callback_data"] == "bk:12"
    assert lean["message_complete"] is True  # warm_up built what every update needs


WRITTEN_AGAINST = "pydantic 2.13 and aiogram 3.31"

SHAPE_SCRIPT = r"""
import inspect, json, sys
from bot import lean_aiogram
assert lean_aiogram.install()
import aiogram, pydantic
from aiogram import methods, types
from aiogram.methods.base import Response
from pydantic import BaseModel

failures = []
# Each method's answer class first, as aiogram asks for it: nothing else built yet.
for name in methods.__all__:
    model = getattr(methods, name)
    returning = getattr(model, "__returning__", None)
    if model is methods.TelegramMethod or returning is None:
        continue
    try:
        answer = lean_aiogram.response_type(returning)
        if not answer.__pydantic_complete__:
            failures.append(f"{name}: {answer.__name__} is not built")
    except Exception as exc:
        failures.append(f"{name}: {type(exc).__name__}: {exc}"[:200])
for module in (types, methods):
    for name in module.__all__:
        model = getattr(module, name)
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            continue
        if model is methods.TelegramMethod:  # the generic base: no return type of its own
            continue
        try:
            model.model_rebuild()
        except Exception as exc:
            failures.append(f"{name}: {type(exc).__name__}: {exc}"[:200])
print(json.dumps({
    "versions": f"pydantic {pydantic.VERSION}, aiogram {aiogram.__version__}",
    "parameters": sorted(inspect.signature(BaseModel.model_rebuild).parameters),
    "deferred": lean_aiogram._state["namespace"] is not None,
    "failures": failures,
}))
"""


def test_the_upstream_shapes_lean_aiogram_relies_on() -> None:
    """A guard: lean_aiogram reaches into pydantic's model building (private keywords of
    `model_rebuild`) and into how `aiogram.types` calls it. When an upstream release changes
    either, this says so, with the versions, before a deployment finds out."""
    done = subprocess.run(
        [sys.executable, "-c", SHAPE_SCRIPT], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.splitlines()[-1])
    installed = found["versions"]
    where = f"bot/lean_aiogram.py was written against {WRITTEN_AGAINST}; installed: {installed}"
    missing = {"_parent_namespace_depth", "_types_namespace"} - set(found["parameters"])
    assert not missing, f"pydantic's BaseModel.model_rebuild lost {sorted(missing)}. {where}"
    assert found["deferred"], f"aiogram.types no longer builds its types through the hook. {where}"
    assert not found["failures"], (
        f"models that do not build with lean_aiogram installed: {found['failures'][:5]}. {where}"
    )
