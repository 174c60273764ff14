"""Which steps can wait: no later step of the video waits for them before the final one.

Dagster's ``dagster/priority`` op tag (higher first) orders ready steps when Dagster launches
them and when they claim pool slots: when more steps are ready than ``max_concurrent`` or a
pool allows, the chains that set the video's end go first.
"""

#: The storyboard's contact sheet, the music, and the storyboard and chunks checks, which no
#: step waits for (they are not blocking): the chunks check yields to ``stitched_video``.
CAN_WAIT = {"dagster/priority": "-1"}
