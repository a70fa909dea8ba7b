/* Manage API Tokens: small enhancements. Every feature also works without this file:
 * search is a GET form, validation is repeated on the server, copying can be done by hand. */
"use strict";

(function () {
  var NAME_RULE = /^[A-Za-z0-9_-]{1,50}$/;
  var NAME_CHAR = /[A-Za-z0-9_-]/;

  function byId(id) {
    return document.getElementById(id);
  }

  /* The token table: filter rows by name as you type. */
  function setUpFilter(input) {
    var table = byId(input.getAttribute("data-filter"));
    var count = byId("count");
    var empty = byId("no-match");
    if (!table || !table.tBodies.length) {
      return;
    }
    var total = count ? count.getAttribute("data-total") : "";
    function apply() {
      var needle = input.value.trim().toLowerCase();
      var rows = table.tBodies[0].rows;
      var shown = 0;
      for (var i = 0; i < rows.length; i++) {
        var name = (rows[i].getAttribute("data-name") || "").toLowerCase();
        var match = name.indexOf(needle) !== -1;
        rows[i].hidden = !match;
        if (match) {
          shown++;
        }
      }
      if (count) {
        count.textContent = "Showing " + shown + " of " + total + " token" +
          (total === "1" ? "" : "s") + ".";
      }
      if (empty) {
        empty.hidden = shown !== 0;
        if (shown === 0 && rows.length) {
          empty.textContent = "No token names contain \u201c" + input.value.trim() + "\u201d.";
        }
      }
    }
    input.addEventListener("input", apply);
    if (input.value !== input.defaultValue) {
      apply(); /* typed before this script ran */
    }
  }

  /* The name field: the server's rule, checked as you type. */
  function setUpName(input) {
    var error = byId("name-error");
    function check() {
      var value = input.value;
      var message = "";
      if (value.length === 0) {
        message = "Enter a name.";
      } else if (value.length > 50) {
        message = "Use at most 50 characters (now " + value.length + ").";
      } else if (!NAME_RULE.test(value)) {
        var bad = [];
        for (var i = 0; i < value.length; i++) {
          var shown = value[i] === " " ? "space" : value[i];
          if (!NAME_CHAR.test(value[i]) && bad.indexOf(shown) === -1) {
            bad.push(shown);
          }
        }
        message = "Not allowed: " + bad.join(" ") + ". Use letters, digits, _ and - only.";
      }
      input.setCustomValidity(message);
      input.setAttribute("aria-invalid", message ? "true" : "false");
      if (error) {
        error.textContent = message;
        error.hidden = !message;
      }
    }
    input.addEventListener("input", check);
    if (input.value) {
      check();
    }
  }

  /* The allow-list: count entries against the limit, live. */
  function setUpLineCount(area) {
    var limit = parseInt(area.getAttribute("data-count-lines"), 10);
    var out = byId("ips-count");
    function count() {
      var lines = area.value.split(/\r?\n/);
      var n = 0;
      for (var i = 0; i < lines.length; i++) {
        if (lines[i].trim()) {
          n++;
        }
      }
      var over = n > limit;
      area.setCustomValidity(over ? "At most " + limit + " entries." : "");
      area.setAttribute("aria-invalid", over ? "true" : "false");
      if (out) {
        out.textContent = n + " of " + limit + " entries" + (over ? ": too many" : "");
        out.classList.toggle("field-error", over);
      }
    }
    area.addEventListener("input", count);
    count();
  }

  /* Expiry: the date field only matters for "On a date…". */
  function setUpExpiry(select) {
    var box = document.querySelector("[data-expiry-date]");
    var date = byId("expiry_date");
    if (!box || !date) {
      return;
    }
    function sync() {
      var on = select.value === "date";
      box.hidden = !on;
      date.required = on;
    }
    select.addEventListener("change", function () {
      sync();
      if (select.value === "date") {
        date.focus();
      }
    });
    sync();
  }

  /* The one-time secret: copy to the clipboard, or select it for copying by hand. */
  function setUpCopy(button) {
    var target = byId(button.getAttribute("data-copy"));
    var status = byId("copy-status");
    function report(ok) {
      if (status) {
        status.textContent = ok
          ? "Copied to the clipboard."
          : "Copy did not work here: the token is selected, press Ctrl+C (\u2318C on a Mac).";
      }
    }
    function fallback() {
      target.focus();
      target.select();
      var ok = false;
      try {
        ok = document.execCommand("copy");
      } catch (e) {
        ok = false;
      }
      report(ok);
    }
    button.addEventListener("click", function () {
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(target.value).then(function () {
          report(true);
        }, fallback);
      } else {
        fallback();
      }
    });
  }

  function init() {
    var i;
    var filters = document.querySelectorAll("input[data-filter]");
    for (i = 0; i < filters.length; i++) {
      setUpFilter(filters[i]);
    }
    var names = document.querySelectorAll("input[data-validate-name]");
    for (i = 0; i < names.length; i++) {
      setUpName(names[i]);
    }
    var areas = document.querySelectorAll("textarea[data-count-lines]");
    for (i = 0; i < areas.length; i++) {
      setUpLineCount(areas[i]);
    }
    var expiry = document.querySelector("select[data-expiry]");
    if (expiry) {
      setUpExpiry(expiry);
    }
    var copies = document.querySelectorAll("button[data-copy]");
    for (i = 0; i < copies.length; i++) {
      setUpCopy(copies[i]);
    }
    var selectable = document.querySelectorAll("input[data-select-on-focus]");
    for (i = 0; i < selectable.length; i++) {
      selectable[i].addEventListener("focus", function (event) {
        event.target.select();
      });
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
