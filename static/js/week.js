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
