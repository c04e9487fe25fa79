// The week view: places timed events and colours calendars from data attributes (through the CSSOM, which
// the Content-Security-Policy allows where inline style attributes are refused), moves the current-time
// line, and manages the event panel. Runs on load and after every htmx swap. While the page is visible it
// asks every few seconds whether what the week shows changed, and redraws the week in place if so.
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

  // --- keeping an open week up to date ------------------------------------------------------------------
  // Every few seconds (data-refresh-seconds) while the tab is visible: one cheap request with the stamp the
  // week was drawn with (204: nothing changed). When it changed, the week fragment is fetched and swapped
  // in, keeping the scroll position, the open detail panel and the Sync list's open state. Never during a
  // drag, a form being filled in, or another request of the page.
  var pending = 0;
  var checkTimer = null;
  var checking = false;
  var stopped = false;

  // Counted from the moment htmx sends until the request ends in any way (loaded, failed, aborted).
  document.addEventListener("htmx:beforeSend", function (event) {
    var xhr = event.detail && event.detail.xhr;
    if (!xhr) {
      return;
    }
    pending += 1;
    xhr.addEventListener("loadend", function () { pending = Math.max(0, pending - 1); }, { once: true });
  });

  function region() {
    return document.getElementById("week");
  }

  function interval() {
    var element = region();
    var seconds = element ? Number(element.getAttribute("data-refresh-seconds")) : 0;
    return seconds > 0 ? seconds * 1000 : 0;
  }

  function busy() {
    if (gesture || pending > 0) {
      return true;
    }
    if (document.querySelector("#week .event-form, #event-panel .event-form")) {
      return true;
    }
    var active = document.activeElement;
    return Boolean(active && active.matches("input, select, textarea") &&
                   active.closest("#week, #event-panel, #move-form"));
  }

  function scheduleCheck(wait) {
    window.clearTimeout(checkTimer);
    checkTimer = null;
    var every = interval();
    if (!stopped && every && document.visibilityState === "visible") {
      checkTimer = window.setTimeout(checkForChanges, wait === undefined ? every : wait);
    }
  }

  function checkForChanges() {
    checkTimer = null;
    var element = region();
    var grid = element && element.querySelector(".week[data-stamp]");
    if (!grid || checking || document.visibilityState !== "visible") {
      return;
    }
    if (busy()) {
      scheduleCheck();
      return;
    }
    checking = true;
    var url = element.getAttribute("data-changed-url") + "?since=" + encodeURIComponent(grid.getAttribute("data-stamp"));
    fetch(url, { credentials: "same-origin", cache: "no-store", headers: { "Accept": "text/plain" } })
      .then(function (response) {
        if (response.status === 204) {
          return null;
        }
        if (response.redirected || response.status === 401 || response.status === 403) {
          stopped = true; // signed out: nothing to keep up to date
          return null;
        }
        return response.ok ? fetchWeek(grid.getAttribute("data-week-url")) : null;
      })
      .catch(function () { return null; }) // offline for a moment: the next check tries again
      .then(function () {
        checking = false;
        scheduleCheck();
      });
  }

  function fetchWeek(url) {
    return fetch(url, { credentials: "same-origin", cache: "no-store", headers: { "HX-Request": "true" } })
      .then(function (response) {
        return response.ok && !response.redirected ? response.text() : null;
      })
      .then(function (html) {
        var element = region();
        var grid = element && element.querySelector(".week[data-week-url]");
        // The person may have started something, or moved to another week, while it loaded.
        if (html && grid && grid.getAttribute("data-week-url") === url && !busy()) {
          swapWeek(element, html);
        }
      });
  }

  function linkSelector(link) {
    var selector = '.event-link[data-event="' + link.getAttribute("data-event") + '"]';
    var at = link.getAttribute("data-at");
    return at ? selector + '[data-at="' + at + '"]' : selector + ":not([data-at])";
  }

  function swapWeek(element, html) {
    var scroller = element.querySelector(".week-scroll");
    var top = scroller ? scroller.scrollTop : 0;
    var left = scroller ? scroller.scrollLeft : 0;
    var pageX = window.scrollX;
    var pageY = window.scrollY;
    var status = element.querySelector("details.sync-status");
    var statusOpen = status ? status.open : null;
    var panel = document.getElementById("event-panel");
    var opener = panel && panel.firstElementChild && panel.opener;
    var openerSelector = opener && opener.matches(".event-link[data-event]") ? linkSelector(opener) : null;
    var active = document.activeElement;
    var focused = active && element.contains(active) && active.id ? "#" + CSS.escape(active.id) :
      (active && element.contains(active) && active.matches(".event-link[data-event]") ? linkSelector(active) : null);

    var template = document.createElement("template");
    template.innerHTML = html;
    template.content.querySelectorAll("title").forEach(function (title) { title.remove(); });
    element.replaceChildren(template.content);
    if (window.htmx) {
      window.htmx.process(element);
    }
    place(element);
    var newStatus = element.querySelector("details.sync-status");
    if (newStatus && statusOpen !== null) {
      newStatus.open = statusOpen;
    }
    var newScroller = element.querySelector(".week-scroll");
    if (newScroller) {
      newScroller.setAttribute("data-scrolled", "1");
      newScroller.scrollTop = top;
      newScroller.scrollLeft = left;
    }
    window.scrollTo(pageX, pageY);
    tickNowLine();
    if (openerSelector) {
      // The open panel stays; it belongs to the same event's new link, if the event is still there.
      var again = element.querySelector(openerSelector);
      panel.opener = again || null;
    }
    if (focused) {
      var target = element.querySelector(focused);
      if (target) {
        target.focus({ preventScroll: true });
      }
    }
    element.dispatchEvent(new CustomEvent("calsync:weekRefreshed", { bubbles: true }));
  }

  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") {
      scheduleCheck(0); // back on the tab: look at once
    } else {
      window.clearTimeout(checkTimer);
      checkTimer = null;
    }
  });

  function start() {
    document.documentElement.classList.add("js");
    refresh();
    window.setInterval(tickNowLine, 30000);
    scheduleCheck();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
