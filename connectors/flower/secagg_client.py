"""The data owner's side of a SecAgg+ round: Flower's mods in the order Flower requires, around the app.

Flower's ``secaggplus_mod`` and legacy ``fixedclipping_mod`` speak the legacy fit format
(``FitIns``/``FitRes`` records), while the example's ClientApp speaks the Message API (``arrays``,
``config``, ``metrics``). ``legacy_fit_mod`` translates between the two, innermost, so one ClientApp
serves both plain and SecAgg+ rounds. Order (outermost first): ``governed_mod`` (refuse ungoverned
messages before anything runs), ``secaggplus_mod`` (masks the update), ``fixedclipping_mod`` (clips it
before it is masked — Flower: clipping must act on the parameters before secaggplus_mod sees them),
``legacy_fit_mod``, the app.
"""

from __future__ import annotations

from flwr.app import ConfigRecord, Context, Message, RecordDict
from flwr.client.mod import fixedclipping_mod, secaggplus_mod
from flwr.clientapp.typing import ClientAppCallable, Mod
from flwr.common import Code, FitRes, Status
from flwr.compat.common import recorddict_compat as compat

_FITINS_PARAMS = "fitins.parameters"


def legacy_fit_mod(msg: Message, ctx: Context, call_next: ClientAppCallable) -> Message:
    """Present a legacy FitIns message to a Message-API app as ``arrays``/``config``; wrap its reply as FitRes."""
    if not msg.has_content() or _FITINS_PARAMS not in msg.content.array_records:
        return call_next(msg, ctx)
    fitins = compat.recorddict_to_fitins(msg.content, keep_input=True)
    params = msg.content.array_records[_FITINS_PARAMS]
    msg.content = RecordDict({"arrays": params, "config": ConfigRecord(dict(fitins.config))})
    reply = call_next(msg, ctx)
    if reply.has_error():
        return Message(reply.error, reply_to=msg)
    arrays = reply.content.array_records["arrays"]
    metrics = dict(reply.content.metric_records.get("metrics", {}))
    num_examples = int(str(metrics.pop("num-examples", 0)))
    fitres = FitRes(Status(Code.OK, ""), compat.arrayrecord_to_parameters(arrays, keep_input=True),
                    num_examples, metrics)  # type: ignore[arg-type]
    return Message(compat.fitres_to_recorddict(fitres, keep_input=True), reply_to=msg)


def secagg_mods(*, client_clipping: bool) -> list[Mod]:
    """The mods a node appends after ``governed_mod`` to take part in SecAgg+ rounds."""
    return [secaggplus_mod, *([fixedclipping_mod] if client_clipping else []), legacy_fit_mod]
