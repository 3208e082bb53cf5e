"""The Play/Pause buttons and the slider under the Images section's animated grids."""

from __future__ import annotations


def play_slider(steps: list[dict], duration_ms: int, prefix: str) -> dict:
    """Layout keys (``updatemenus``, ``sliders``) for Play/Pause buttons left of a slider over ``steps``.

    Play shows each frame for ``duration_ms`` from the current one; the slider names its frame after ``prefix``.
    """
    play = dict(frame=dict(duration=duration_ms, redraw=True), fromcurrent=True)
    pause = dict(mode="immediate", frame=dict(duration=0, redraw=False))
    return dict(
        updatemenus=[
            dict(
                type="buttons",
                direction="left",
                x=0.0,
                y=0,
                xanchor="left",
                yanchor="top",
                pad=dict(t=40),
                buttons=[
                    dict(label="▶ Play", method="animate", args=[None, play]),
                    dict(label="❚❚ Pause", method="animate", args=[[None], pause]),
                ],
            )
        ],
        sliders=[dict(steps=steps, x=0.22, len=0.78, y=0, pad=dict(t=30), currentvalue=dict(prefix=prefix))],
    )
