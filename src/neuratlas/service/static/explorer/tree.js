// The region tree: one row per region (depth-first, as /v3_0/regions lists them), each
// with the region's colour; parents fold. A search shows the service's matches instead,
// best first, as a flat list. Rows carry data-region-id and data-region-name; the
// selected one aria-selected="true".

/** Ancestors of a region, root first, from `hasParent` links (ids absent from `byId` end it). */
export function ancestorsOf(id, byId) {
  const path = [];
  for (let parent = byId.get(id)?.hasParent; byId.has(parent); parent = byId.get(parent).hasParent) {
    path.unshift(byId.get(parent));
  }
  return path;
}

/** The ids of a region and all regions below it. */
export function descendantsOf(id, childrenOf) {
  const found = new Set();
  const pending = [id];
  while (pending.length) {
    const next = pending.pop();
    found.add(next);
    pending.push(...(childrenOf.get(next) ?? []));
  }
  return found;
}

export class RegionTree {
  /** `onSelect(region)` is called when a row is chosen (click, Enter or Space). */
  constructor(element, onSelect) {
    this.element = element;
    this.onSelect = onSelect;
    this.byId = new Map();
    this.childrenOf = new Map();
    this.expanded = new Set();
    this.selectedId = null;
    this.searching = false;
    element.addEventListener("click", (event) => this.clicked(event));
    element.addEventListener("keydown", (event) => this.keyed(event));
  }

  /** Show a parcellation's regions (depth-first order); the top two levels open. */
  setRegions(regions) {
    this.byId = new Map(regions.map((region) => [region["@id"], region]));
    this.childrenOf = new Map();
    for (const region of regions) {
      if (!this.byId.has(region.hasParent)) continue;
      if (!this.childrenOf.has(region.hasParent)) this.childrenOf.set(region.hasParent, []);
      this.childrenOf.get(region.hasParent).push(region["@id"]);
    }
    this.expanded = new Set(regions.filter((r) => !this.byId.has(r.hasParent)).map((r) => r["@id"]));
    this.selectedId = null;
    this.showTree();
  }

  showTree() {
    this.searching = false;
    const rows = [...this.byId.values()].map((region) =>
      this.row(region, ancestorsOf(region["@id"], this.byId).length + 1),
    );
    this.element.replaceChildren(...rows);
    this.refresh();
  }

  /** Show only these regions (a search's matches, best first); null shows the tree again. */
  showMatches(regions) {
    if (regions === null) return this.showTree();
    this.searching = true;
    const rows = regions.map((region) => this.row(region, 1));
    if (!rows.length) {
      const empty = document.createElement("p");
      empty.className = "empty";
      empty.textContent = "No region matches.";
      rows.push(empty);
    }
    this.element.replaceChildren(...rows);
    this.refresh();
  }

  row(region, level) {
    const id = region["@id"];
    const row = document.createElement("div");
    row.className = "node";
    row.setAttribute("role", "treeitem");
    row.setAttribute("aria-level", level);
    row.style.setProperty("--level", level); // the indentation
    row.dataset.regionId = id;
    row.dataset.regionName = region.name;
    row.tabIndex = -1;
    const parent = !this.searching && this.childrenOf.has(id);
    const toggle = document.createElement("span");
    toggle.className = parent ? "toggle" : "toggle leaf";
    toggle.setAttribute("aria-hidden", "true");
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    if (region.rgb) swatch.style.background = `rgb(${region.rgb.join(",")})`;
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = region.name;
    row.append(toggle, swatch, name);
    return row;
  }

  /** Mark the selected region, open its ancestors and scroll it into view. */
  select(id) {
    this.selectedId = id;
    for (const ancestor of ancestorsOf(id, this.byId)) this.expanded.add(ancestor["@id"]);
    this.refresh();
    const row = this.rowOf(id);
    row?.scrollIntoView({ block: "nearest" });
  }

  rowOf(id) {
    return [...this.element.querySelectorAll(".node")].find((row) => row.dataset.regionId === id);
  }

  /** Fold state, visibility, selection and the one focusable row, after any change. */
  refresh() {
    let hiddenBelow = Infinity; // rows deeper than a folded parent are hidden
    let first = null;
    let selectedRow = null;
    for (const row of this.element.querySelectorAll(".node")) {
      const id = row.dataset.regionId;
      const level = Number(row.getAttribute("aria-level"));
      const selected = id === this.selectedId;
      row.setAttribute("aria-selected", selected);
      row.tabIndex = -1;
      row.hidden = level > hiddenBelow;
      if (row.hidden) continue;
      hiddenBelow = Infinity;
      const parent = !this.searching && this.childrenOf.has(id);
      if (parent) {
        const open = this.expanded.has(id);
        row.setAttribute("aria-expanded", open);
        if (!open) hiddenBelow = level;
      }
      first ??= row;
      if (selected) selectedRow = row;
    }
    // one row in the tab order (the selected one, else the first): arrows move from there
    const focusable = selectedRow ?? first;
    if (focusable) focusable.tabIndex = 0;
  }

  clicked(event) {
    const row = event.target.closest(".node");
    if (!row) return;
    if (event.target.classList.contains("toggle") && !event.target.classList.contains("leaf")) {
      this.toggle(row.dataset.regionId);
    } else {
      this.choose(row.dataset.regionId);
    }
  }

  choose(id) {
    if (this.byId.has(id)) this.onSelect(this.byId.get(id));
  }

  toggle(id) {
    if (this.expanded.has(id)) this.expanded.delete(id);
    else this.expanded.add(id);
    this.refresh();
  }

  keyed(event) {
    const row = event.target.closest(".node");
    if (!row) return;
    const visible = [...this.element.querySelectorAll(".node:not([hidden])")];
    const at = visible.indexOf(row);
    const id = row.dataset.regionId;
    const moveTo = (target) => {
      if (!target) return;
      row.tabIndex = -1;
      target.tabIndex = 0;
      target.focus();
    };
    const actions = {
      ArrowDown: () => moveTo(visible[at + 1]),
      ArrowUp: () => moveTo(visible[at - 1]),
      ArrowRight: () => this.childrenOf.has(id) && !this.expanded.has(id) && this.toggle(id),
      ArrowLeft: () => this.expanded.has(id) && this.toggle(id),
      Enter: () => this.choose(id),
      " ": () => this.choose(id),
    };
    if (!actions[event.key]) return;
    event.preventDefault();
    actions[event.key]();
  }
}
