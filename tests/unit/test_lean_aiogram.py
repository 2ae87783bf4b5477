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
answer = Response[types.Message].model_validate(
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


POST_INIT_SCRIPT = r"""
import json
from aiogram import Bot, methods, types
from pydantic import BaseModel
from bot import lean_aiogram

class Noted(types.TelegramObject):  # a post-init of its own: left alone
    note: str = ""
    def model_post_init(self, context, /):
        super().model_post_init(context)
        object.__setattr__(self, "note", "seen")

bot = Bot("123456:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawQ")
update = {
    "update_id": 7,
    "callback_query": {
        "id": "42", "chat_instance": "1", "data": "bk:12",
        "from": {"id": 5, "is_bot": False, "first_name": "Olena"},
        "message": {
            "message_id": 3, "date": 1760000000, "text": "Зустріч",
            "chat": {"id": 5, "type": "private", "first_name": "Olena"},
            "reply_markup": {"inline_keyboard": [[{"text": "Так", "callback_data": "bk:12"}]]},
        },
    },
}

def private_state(value, found):
    if isinstance(value, BaseModel):
        found.append([type(value).__name__, {k: v is bot if k == "_bot" else repr(v)
                      for k, v in (value.__pydantic_private__ or {}).items()}])
        for name in type(value).model_fields:
            private_state(getattr(value, name), found)
    elif isinstance(value, list):
        for item in value:
            private_state(item, found)
    return found

def sample():
    parsed = types.Update.model_validate(update, context={"bot": bot})
    return {
        "parsed": private_state(parsed, []),
        "built": private_state(methods.SendMessage(chat_id=5, text="x"), []),
        "constructed": private_state(types.Chat.model_construct(id=5, type="private"), []),
        "bound": parsed.callback_query.message.bot is bot,
        "noted": Noted.model_validate({}, context={"bot": bot}).note,
    }

before = sample()
changed = lean_aiogram.one_step_post_init()
after = sample()
one_step = lean_aiogram._bot_from_context
print(json.dumps({"before": before, "after": after, "changed": changed,
                  "noted_kept": Noted.model_post_init is not one_step,
                  "message_changed": types.Message.model_post_init is one_step}))
"""


def test_one_step_post_init_leaves_objects_as_pydantic_did() -> None:
    done = subprocess.run(
        [sys.executable, "-c", POST_INIT_SCRIPT],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["changed"] > 300 and result["message_changed"]
    assert result["after"] == result["before"]
    assert result["after"]["bound"] is True and result["after"]["noted"] == "seen"
    assert result["noted_kept"]  # a class with its own post-init keeps pydantic's chain
    assert len(result["after"]["parsed"]) >= 6  # update, query, user, message, chat, keyboard…
