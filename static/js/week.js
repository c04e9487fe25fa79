// The week view: places timed events and colours calendars from data attributes (through the CSSOM, which
// the Content-Security-Policy allows where inline style attributes are refused), moves the current-time
// line, and manages the event panel. Runs on load and after every htmx swap.
(function () {
  "use strict";
  var MINUTES_PER_DAY = 1440;

  function percent(value) {
    return (value * 100).toFixed(4) + "%";
  }

  function place(root) {
    root.querySelectorAll("[data-color]").forEach(function (element) {
      var color = element.getAttribute("data-color");
      if (/^#[0-9a-fA-F]{6}$/.test(color)) {
        element.style.setProperty("--cal", color);
      }
    });
    root.querySelectorAll(".block[data-top]").forEach(function (block) {
      var top = Number(block.getAttribute("data-top"));
      var bottom = Number(block.getAttribute("data-bottom"));
      var column = Number(block.getAttribute("data-column"));
      var columns = Math.max(1, Number(block.getAttribute("data-columns")));
      block.style.top = percent(top / MINUTES_PER_DAY);
      block.style.height = percent(Math.max(bottom - top, 1) / MINUTES_PER_DAY);
      block.style.left = percent(column / columns);
      block.style.width = percent(1 / columns);
    });
    root.querySelectorAll(".now-line[data-minute]").forEach(function (line) {
      line.style.top = percent(Number(line.getAttribute("data-minute")) / MINUTES_PER_DAY);
    });
  }

  function tickNowLine() {
    var now = new Date();
    document.querySelectorAll(".now-line").forEach(function (line) {
      // The server placed it in the person's zone; move it on by the minutes since the page was drawn.
      var drawn = Number(line.getAttribute("data-minute"));
      var drawnAt = Number(line.getAttribute("data-drawn-at") || 0);
      if (!drawnAt) {
        line.setAttribute("data-drawn-at", String(now.getTime()));
        return;
      }
      var minute = drawn + Math.floor((now.getTime() - drawnAt) / 60000);
      if (minute >= MINUTES_PER_DAY) {
        window.location.reload(); // a new day: today's column and the line move on
        return;
      }
      line.style.top = percent(minute / MINUTES_PER_DAY);
    });
  }

  function scrollToMorning(root) {
    var body = root.querySelector(".week-body");
    var scroller = document.querySelector(".week-scroll");
    if (!body || !scroller || scroller.getAttribute("data-scrolled")) {
      return;
    }
    var line = root.querySelector(".now-line");
    var minute = line ? Math.max(0, Number(line.getAttribute("data-minute")) - 120) : 7 * 60;
    scroller.scrollTop = (body.scrollHeight * minute) / MINUTES_PER_DAY;
    scroller.setAttribute("data-scrolled", "1");
  }

  function closePanel(event) {
    var panel = document.getElementById("event-panel");
    if (!panel || !panel.firstElementChild) {
      return;
    }
    if (event) {
      event.preventDefault();
    }
    var opener = panel.opener;
    panel.replaceChildren();
    panel.classList.remove("open");
    if (opener && document.body.contains(opener)) {
      opener.focus();
    }
  }

  document.addEventListener("click", function (event) {
    var target = event.target instanceof Element ? event.target : null;
    if (target && target.closest("[data-close-panel]") && document.getElementById("event-panel")) {
      closePanel(event);
      return;
    }
    var link = target && target.closest(".event-link");
    var panel = document.getElementById("event-panel");
    if (link && panel) {
      panel.opener = link;
    }
  });

  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape") {
      closePanel(null);
    }
  });

  document.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail && event.detail.target;
    if (!target) {
      refresh();
      return;
    }
    place(target);
    if (target.id === "event-panel") {
      target.classList.add("open");
      var article = target.querySelector(".event-detail");
      if (article) {
        article.focus();
      }
    } else if (target.id === "week") {
      closePanel(null);
      var scroller = document.querySelector(".week-scroll");
      if (scroller) {
        scroller.removeAttribute("data-scrolled");
      }
      scrollToMorning(target);
      tickNowLine();
    }
  });

  // --- creating and moving events on the grid ---------------------------------------------------------
  // Click (or drag down) on an empty part of a day: the new-event form opens with those times. Drag an
  // event to another time or day: it moves there, as long as it was. Snapped to a quarter of an hour.
  var SNAP = 15;
  var DRAG_THRESHOLD = 6;
  var gesture = null;

  function pad(number) {
    return (number < 10 ? "0" : "") + number;
  }

  function minuteAt(day, clientY) {
    var box = day.getBoundingClientRect();
    var minute = ((clientY - box.top) / box.height) * MINUTES_PER_DAY;
    minute = Math.round(minute / SNAP) * SNAP;
    return Math.max(0, Math.min(MINUTES_PER_DAY - SNAP, minute));
  }

  function localTime(date, minute) {
    return date + "T" + pad(Math.floor(minute / 60)) + ":" + pad(minute % 60);
  }

  // Minutes since 1970 of a wall-clock time, ignoring zones: "YYYY-MM-DD" plus `minute`, or the date and
  // time at the start of an ISO string when `minute` is null.
  function wallMinutes(text, minute) {
    var wall = minute === null ? text.slice(0, 16) : localTime(text, minute);
    return Date.parse(wall + ":00Z") / 60000;
  }

  function wallText(minutes) {
    return new Date(minutes * 60000).toISOString().slice(0, 16);
  }

  function dayUnder(clientX, clientY) {
    var element = document.elementFromPoint(clientX, clientY);
    return element ? element.closest(".day[data-date]") : null;
  }

  document.addEventListener("pointerdown", function (event) {
    if (event.button !== 0 || !(event.target instanceof Element)) {
      return;
    }
    var link = event.target.closest(".block .event-link[data-event]");
    var day = event.target.closest(".day[data-date]");
    if (link) {
      // How far into the event it was grabbed, on the wall clock: from its real start, which may be on an
      // earlier day (the second part of an overnight event).
      var grabbed = wallMinutes(day.getAttribute("data-date"), minuteAt(day, event.clientY));
      gesture = { kind: "move", link: link, x: event.clientX, y: event.clientY, moved: false,
                  grab: grabbed - wallMinutes(link.getAttribute("data-start"), null) };
    } else if (day && !event.target.closest(".event-link")) {
      gesture = { kind: "new", day: day, from: minuteAt(day, event.clientY), to: null, x: event.clientX, y: event.clientY, moved: false };
    }
  });

  document.addEventListener("pointermove", function (event) {
    if (!gesture) {
      return;
    }
    if (Math.abs(event.clientX - gesture.x) + Math.abs(event.clientY - gesture.y) > DRAG_THRESHOLD) {
      gesture.moved = true;
    }
    if (gesture.moved && gesture.kind === "move") {
      gesture.link.classList.add("dragging");
    }
  });

  document.addEventListener("pointerup", function (event) {
    var current = gesture;
    gesture = null;
    if (!current) {
      return;
    }
    if (current.kind === "new") {
      var week = current.day.closest(".week");
      var from = current.from;
      var to = current.moved ? minuteAt(current.day, event.clientY) : from + 60;
      if (to < from) {
        var swap = from; from = to; to = swap;
      }
      if (to === from) {
        to = from + SNAP;
      }
      var date = current.day.getAttribute("data-date");
      var end = to >= MINUTES_PER_DAY ? localTime(date, MINUTES_PER_DAY - 1) : localTime(date, to);
      var query = "?start=" + encodeURIComponent(localTime(date, from)) + "&end=" + encodeURIComponent(end);
      window.location.assign(week.getAttribute("data-new-url") + query);
      return;
    }
    if (!current.moved) {
      return; // a click: htmx opens the details
    }
    current.link.classList.remove("dragging");
    var target = dayUnder(event.clientX, event.clientY);
    var form = document.getElementById("move-form");
    if (!target || !form) {
      return;
    }
    suppressClick = true;
    var start = wallMinutes(target.getAttribute("data-date"), minuteAt(target, event.clientY)) - current.grab;
    start = Math.round(start / SNAP) * SNAP;
    form.setAttribute("action", "/events/" + encodeURIComponent(current.link.getAttribute("data-event")) + "/move/");
    form.elements.start.value = wallText(start);
    form.elements.at.value = current.link.getAttribute("data-at") || "";
    var weekElement = target.closest(".week");
    form.elements.week.value = weekElement ? weekElement.getAttribute("data-week-url") : "";
    form.submit();
  });

  // A link is natively draggable: that drag would swallow the pointer's release.
  document.addEventListener("dragstart", function (event) {
    if (event.target instanceof Element && event.target.closest(".block, .day")) {
      event.preventDefault();
    }
  });

  var suppressClick = false;
  document.addEventListener("click", function (event) {
    if (suppressClick) {
      suppressClick = false;
      event.preventDefault();
      event.stopPropagation();
    }
  }, true);

  function refresh() {
    place(document);
    var scroller = document.querySelector(".week-scroll");
    if (scroller) {
      scroller.removeAttribute("data-scrolled");
    }
    scrollToMorning(document);
    tickNowLine();
  }

  // Back and forward: htmx fetches the whole page again (it keeps no copy) and swaps the body.
  document.addEventListener("htmx:historyRestore", refresh);

  function start() {
    document.documentElement.classList.add("js");
    refresh();
    window.setInterval(tickNowLine, 30000);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
