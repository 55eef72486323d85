"""Live microphone mode of ``voxsep serve``: the page captures audio with an AudioWorklet at
the model's rate, sends float32 blocks over a WebSocket (``/ws/live?model=<index>``), the
server runs ``StreamingSeparator`` (with the output level rule, ``match_level``) and sends
back each block's separated samples (``n_src`` float32 rows, talker after talker). Only causal voxsep checkpoints stream: the
bundled causal companion (``voxsep.pretrained.STREAMING_MODEL``, served by default beside the
bundled model) or a causal ``--model`` checkpoint.

Protocol: the server first sends JSON ``{"type": "ready", "sample_rate", "n_src",
"latency_ms"}`` (or ``{"type": "error", "message"}`` and closes); then binary in, binary
out, one answer per block; ``--max-live`` sessions at once (the next gets "busy, retry").
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import numpy as np

MAX_BLOCK = 16000 * 2  # samples per message at most (2 s at 16 kHz): larger messages end the session


def live_capability(served: Any) -> tuple[Any, str]:
    """``(fresh causal model, "")`` when ``served`` can stream, else ``(None, why not)``."""
    from voxsep.inference.streaming import StreamingSeparator
    from voxsep.interop import load_any

    try:
        model, _ = load_any(served.path) if served.path else (None, None)
        if model is None:
            return None, "not a PyTorch checkpoint"
        StreamingSeparator.from_model(model)
        return model, ""
    except Exception as error:  # noqa: BLE001 - any reason is reported on the page
        return None, str(error).split("\n")[0]


def _live_advice(models: list) -> str:
    """What to do when the picked model cannot stream: pick one that can, or serve one."""
    live = [m.spec for m in models if m.live_model is not None]
    if live:
        return f"Live mode needs a causal model: pick {' or '.join(live)}."
    return ("Live mode needs a causal model: serve the bundled one or a causal checkpoint "
            "(voxsep serve --model convtasnet_causal8k, or --model causal.pt).")


def live_routes(models: list, max_live: int) -> list:
    from starlette.routing import WebSocketRoute
    from starlette.websockets import WebSocket, WebSocketDisconnect

    from voxsep.inference.streaming import StreamingSeparator

    state = {"live": 0}

    async def live(websocket: WebSocket) -> None:
        await websocket.accept()

        async def fail(message: str) -> None:
            await websocket.send_text(json.dumps({"type": "error", "message": message}))
            await websocket.close()

        try:
            served = models[int(websocket.query_params.get("model", "0"))]
        except (ValueError, IndexError):
            return await fail("unknown model")
        if served.live_model is None:
            return await fail(f"{served.spec} cannot run live: {served.live_reason}. {_live_advice(models)}")
        if state["live"] >= max_live:
            return await fail(f"busy: {state['live']} live session(s) running, the limit of this server "
                              "(--max-live); retry in a moment")
        state["live"] += 1
        try:
            import copy

            stream = StreamingSeparator.from_model(copy.deepcopy(served.live_model), match_level=True)
            await websocket.send_text(json.dumps({
                "type": "ready", "sample_rate": stream.sample_rate, "n_src": stream.n_src,
                "latency_ms": round(1000 * stream.latency_samples / stream.sample_rate, 2), "model": served.spec}))
            loop = asyncio.get_running_loop()
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    break
                data = message.get("bytes")
                if data is None:
                    if message.get("text") == "stop":
                        await websocket.close()
                        break
                    continue
                if len(data) % 4 or not 0 < len(data) // 4 <= MAX_BLOCK:
                    return await fail(f"a block must hold 1 to {MAX_BLOCK} float32 samples")
                block = np.frombuffer(data, dtype="<f4").copy()
                if not np.isfinite(block).all():
                    continue  # the stream goes on without the bad block
                out = await loop.run_in_executor(None, stream.process, block)
                await websocket.send_bytes(np.ascontiguousarray(out, dtype="<f4").tobytes())
        except WebSocketDisconnect:
            pass
        finally:
            state["live"] -= 1

    return [WebSocketRoute("/ws/live", live)]
