"""Which steps can wait: no later step of the video waits for them before the final one.

Dagster's ``dagster/priority`` op tag (higher first) orders ready steps when Dagster launches
them and claims pool slots; the threaded executor also queues steps for the interpreter by it
(``videogen_dagster.turns``), so a contact sheet painted while clips come back does not hold
up the chains that set the video's end.
"""

#: The storyboard's contact sheet and check, and the music: ready seconds before their use.
CAN_WAIT = {"dagster/priority": "-1"}
