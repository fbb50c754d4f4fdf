"""The course's interactive widgets, each a thin layer over tested state and figure functions.

Every widget has three layers, so that what it shows is tested even though its callbacks
never run in a test or on GitHub: a *state* function computes everything shown, from the
controls' values, as a plain ``dict``; a *figure* function in :mod:`fewshot_utils.viz`
draws a state (a notebook also calls it once directly, so readers who cannot run the
widget see a static figure); the *widget* only wires ipywidgets controls to "state, then
figure".

* :func:`cosine_demo` (notebook 03): two 2-D vectors and their cosine;
* :func:`episode_explorer` (notebook 04): one episode and the prototype classifier;
* :func:`fine_tuning_explorer` (notebook 06): λ, learning rate, steps, head and start;
* :func:`upload_widget` (notebook 08): your own images, classified.
"""

from fewshot_utils.widgets.cosine import cosine_demo, cosine_demo_state
from fewshot_utils.widgets.episodes import episode_explorer, explore_episode
from fewshot_utils.widgets.fine_tuning import fine_tuning_explorer, fine_tuning_state
from fewshot_utils.widgets.upload import upload_widget

__all__ = [
    "cosine_demo",
    "cosine_demo_state",
    "episode_explorer",
    "explore_episode",
    "fine_tuning_explorer",
    "fine_tuning_state",
    "upload_widget",
]
