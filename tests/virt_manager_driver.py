"""Runs virt-manager 4.1 itself (its own code, windows and buttons) on
the details window of web1 and works its Snapshots page as a user does:
select a snapshot and press Run while the VM runs, take a snapshot from
the New Snapshot dialog, select another and press Delete. Each question
virt-manager asks is answered Yes by pressing the dialog's button, the
way a user would. A screenshot is saved after each step.

    python3 virt_manager_driver.py URI SHOT_DIR

Prints "step NAME" as each step ends and "done" at the end; exits 1 on a
step that does not finish."""

import gc
import os
import sys
import time

URI, SHOTS = sys.argv[1], sys.argv[2]
sys.argv = ["virt-manager", "--debug", "--no-fork", "--connect", URI,
            "--show-domain-editor", "web1"]
sys.path.insert(0, "/usr/share/virt-manager")

from virtManager import virtmanager  # noqa: E402

STEP_TIMEOUT = 60


def instances(name):
    return [o for o in gc.get_objects() if type(o).__name__ == name]


def shot(name):
    from gi.repository import Gdk
    w = Gdk.get_default_root_window()
    pb = Gdk.pixbuf_get_from_window(w, 0, 0, w.get_width(), w.get_height())
    pb.savev(os.path.join(SHOTS, name + ".png"), "png", [], [])


def answer_questions():
    """Presses Yes (or OK) on every question virt-manager shows."""
    from gi.repository import Gtk
    for w in Gtk.Window.list_toplevels():
        if isinstance(w, Gtk.MessageDialog) and w.get_visible():
            print("question", w.get_property("text"), flush=True)
            w.response(Gtk.ResponseType.YES if
                       w.get_widget_for_response(Gtk.ResponseType.YES)
                       else Gtk.ResponseType.OK)


def click(button):
    """Clicks on its own turn of the main loop: a click that opens a
    question runs a nested loop, and the step timer must keep ticking to
    answer it."""
    from gi.repository import GLib
    GLib.idle_add(lambda: button.clicked() and False)


def rows(page):
    model = page.widget("snapshot-list").get_model()
    out = {}
    it = model.get_iter_first() if model else None
    while it:
        name = model[it][0]  # None for the separator row
        if name:
            out[name] = it
        it = model.iter_next(it)
    return out


def select(page, name):
    page.widget("snapshot-list").get_selection().unselect_all()
    page.widget("snapshot-list").get_selection().select_iter(rows(page)[name])


def busy():
    """A progress window of virt-manager's is open."""
    return any(j.topwin and j.topwin.get_visible()
               for j in instances("vmmAsyncJob"))


def settled():
    """A condition: no progress window left, and a second for the windows
    to redraw before a screenshot."""
    since = time.monotonic()
    return lambda: not busy() and time.monotonic() - since > 1


def steps():
    """Each yield waits for a condition; the step ends when it holds."""
    yield lambda: instances("vmmSnapshotPage")
    page = instances("vmmSnapshotPage")[0]
    window = instances("vmmVMWindow")[0]
    yield lambda: window.widget("control-snapshots").get_sensitive()
    window.widget("control-snapshots").set_active(True)
    yield lambda: set(rows(page)) == {"s1", "s2"}
    select(page, "s1")
    yield settled()
    shot("1-snapshots")
    print("step opened", flush=True)

    # Run s1 while web1 runs: virt-manager asks, then reverts with flags 0
    click(page.widget("snapshot-start"))
    yield lambda: not page.vm.is_active() and not busy()
    yield settled()
    shot("2-reverted")
    print("step reverted", flush=True)

    click(page.widget("snapshot-add"))
    yield lambda: instances("vmmSnapshotNew") and \
        instances("vmmSnapshotNew")[0].topwin.get_visible()
    new = instances("vmmSnapshotNew")[0]
    new.widget("snapshot-new-name").set_text("third")
    new.widget("snapshot-new-description").get_buffer().set_text(
        "taken from virt-manager")
    yield settled()
    shot("3-new-snapshot-dialog")
    click(new.widget("snapshot-new-ok"))
    yield lambda: set(rows(page)) == {"s1", "s2", "third"}
    yield settled()
    shot("4-created")
    print("step created", flush=True)

    select(page, "s2")
    click(page.widget("snapshot-delete"))
    yield lambda: set(rows(page)) == {"s1", "third"}
    yield settled()
    shot("5-deleted")
    print("step deleted", flush=True)


def drive():
    from gi.repository import GLib
    it = steps()
    state = {"cond": next(it), "since": time.monotonic()}

    def tick():
        answer_questions()
        try:
            ok = state["cond"]()
        except Exception as e:  # the UI is not there yet
            print("waiting:", e, flush=True)
            ok = False
        if ok:
            try:
                state["cond"] = next(it)
                state["since"] = time.monotonic()
            except StopIteration:
                print("done", flush=True)
                os._exit(0)
        elif time.monotonic() - state["since"] > STEP_TIMEOUT:
            shot("timeout")
            print("a step did not finish:", state["cond"].__code__.co_firstlineno,
                  flush=True)
            os._exit(1)
        return True
    GLib.timeout_add(250, tick)


drive()
virtmanager.runcli()
