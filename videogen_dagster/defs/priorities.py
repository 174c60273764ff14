"""Which steps can wait: no later step of the video waits for them before the final one.

Dagster's ``dagster/priority`` op tag (higher first) orders ready steps when Dagster launches
them and claims pool slots; the threaded executor also queues steps for the interpreter by it
(``videogen_dagster.turns``), so a contact sheet painted while clips come back does not hold
up the chains that set the video's end.
"""

#: The storyboard's contact sheet, the music, and the storyboard and chunks checks, which no
#: step waits for (they are not blocking): the chunks check yields to ``stitched_video``.
CAN_WAIT = {"dagster/priority": "-1"}
