// The staff dashboard's only script. Telegram opens the page with its signed initData in the
// address's fragment (#tgWebAppData=…), which never reaches a server. The script keeps it in
// sessionStorage (so moving between pages keeps it), takes it out of the address, and sends it
// with every request as `Authorization: tma <initData>`; the server answers with the HTML of
// the page, which replaces #app. Searches and actions are POSTs: nothing personal in addresses.
(function () {
  "use strict";
  var KEY = "win4ua.dashboard.initData";
  var PREFIX = "/dashboard/";
  var VIEW = "/dashboard/view/";
  var app = document.getElementById("app");

  function readInitData() {
    var hash = window.location.hash.slice(1);
    var fromHash = hash ? new URLSearchParams(hash).get("tgWebAppData") : null;
    if (fromHash) {
      try { window.sessionStorage.setItem(KEY, fromHash); } catch (e) { /* private mode */ }
      window.history.replaceState(null, "", window.location.pathname + window.location.search);
      return fromHash;
    }
    try { return window.sessionStorage.getItem(KEY); } catch (e) { return null; }
  }

  var initData = readInitData();

  function viewOf(path) {
    return VIEW + path.slice(PREFIX.length);
  }

  function refuse(id) {
    app.hidden = true;
    document.getElementById(id).hidden = false;
  }

  function show(html) {
    app.innerHTML = html;
    app.hidden = false;
    var heading = app.querySelector("h1");
    if (heading) { document.title = heading.textContent + " · WIN4UA"; }
    app.setAttribute("aria-busy", "false");
  }

  function request(url, body) {
    if (!initData) { refuse("signin"); return; }
    app.setAttribute("aria-busy", "true");
    var options = { method: body ? "POST" : "GET", headers: { Authorization: "tma " + initData } };
    if (body) { options.body = body; }
    return window.fetch(url, options).then(function (response) {
      if (response.status === 401) { refuse("signin"); return; }
      if (response.status === 403) { refuse("forbidden"); return; }
      var moved = response.headers.get("X-Dashboard-Location");
      if (moved && moved !== window.location.pathname) {
        window.history.pushState(null, "", moved);
      }
      return response.text().then(show);
    }).catch(function () {
      app.setAttribute("aria-busy", "false");
    });
  }

  function go(path, push) {
    if (push) { window.history.pushState(null, "", path); }
    window.scrollTo(0, 0);
    return request(viewOf(path));
  }

  function submit(form, submitter) {
    var body = new URLSearchParams();
    new FormData(form).forEach(function (value, name) { body.append(name, value); });
    if (submitter && submitter.name) { body.append(submitter.name, submitter.value); }
    return request(form.getAttribute("action"), body);
  }

  app.addEventListener("click", function (event) {
    var link = event.target.closest("a");
    if (!link || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey) {
      return;
    }
    var filters = document.getElementById("filters");
    if (filters && (link.classList.contains("sort") || link.classList.contains("page"))) {
      // Sorting and paging keep the filters (and the search) by sending the form again.
      event.preventDefault();
      if (link.dataset.sort) {
        filters.elements.sort.value = link.dataset.sort;
        filters.elements.dir.value = link.dataset.dir;
        filters.elements.page.value = "1";
      } else {
        filters.elements.page.value = link.dataset.page;
      }
      submit(filters, null);
      return;
    }
    var href = link.getAttribute("href");
    if (href && href.indexOf(PREFIX) === 0) {
      event.preventDefault();
      go(href.split("?")[0], true);
    }
  });

  app.addEventListener("submit", function (event) {
    var form = event.target;
    event.preventDefault();
    if (form.id === "filters") { form.elements.page.value = "1"; }
    submit(form, event.submitter);
  });

  window.addEventListener("popstate", function () { go(window.location.pathname, false); });

  go(window.location.pathname, false);
}());
