// The text parts of the page: the region panel, the regions at the clicked point, the
// colour bar and the coordinate. Every function fills elements the page already has.

const $ = (id) => document.getElementById(id);

/** "x, y, z mm", one decimal (the templates have 0.5 mm voxels at the finest). */
export function formatPoint(point) {
  return `${point.map((value) => value.toFixed(1)).join(", ")} mm`;
}

export function showCoordinate(point) {
  $("coordinate").textContent = formatPoint(point);
}

/** Name and hierarchy at once; the measures are filled when the service answers. */
export function showRegion(region, path, downloadHref) {
  $("region-panel").classList.toggle("empty", !region);
  $("region-name").textContent = region ? region.name : "No region selected";
  $("region-path").textContent = path.join(" › ");
  showMeasures(null);
  showRelated(null);
  const download = $("download-button");
  download.href = downloadHref;
  download.textContent = region ? "Download the region's map (zip)" : "Download the map (zip)";
}

/** Volume, centroid and bounding box from a region's `spatialProps` (null: not known). */
export function showMeasures(props) {
  const number = (value) => value.toLocaleString("en", { maximumFractionDigits: 1 });
  const measure = props?.measure ?? "volume"; // an area on a surface
  $("region-volume").previousElementSibling.textContent = measure[0].toUpperCase() + measure.slice(1);
  $("region-volume").textContent = props ? `${number(props.size)} ${props.unit}` : "–";
  $("region-centroid").textContent = props ? formatPoint(props.centroid_mm) : "–";
  $("region-bbox").textContent = props
    ? `${formatPoint(props.bbox_mm[0]).replace(" mm", "")} to ${formatPoint(props.bbox_mm[1])}`
    : "–";
}

/**
 * Related regions of other parcellations (null: none asked for, "loading": on the way).
 * `onPick(relation)` opens one.
 */
export function showRelated(relations, parcellationName, onPick) {
  const list = $("related-regions");
  if (relations === null || relations === "loading") {
    list.replaceChildren(note(relations ? "Looking for related regions…" : ""));
    return;
  }
  if (!relations.length) {
    list.replaceChildren(note("No overlapping region in other parcellations."));
    return;
  }
  list.replaceChildren(
    ...relations.map((relation) => {
      const region = relation.assigned_structure;
      const item = document.createElement("li");
      item.dataset.regionName = region.name;
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = region.name;
      button.addEventListener("click", () => onPick(relation));
      const detail = document.createElement("span");
      detail.className = "detail";
      detail.textContent =
        ` ${parcellationName(relation.assigned_structure_parcellation["@id"])}: ` +
        `${relation.qualification.toLowerCase()}, overlap (IoU) ${relation.intersection_over_union.toFixed(2)}`;
      item.append(button, detail);
      return item;
    }),
  );
}

/**
 * The regions at a point, one element each (data-region-name, its values in the text).
 * `rows`: the records of /map/assign; `onPick(name)` selects a region.
 */
export function showAssignments(rows, point, mapType, onPick) {
  const list = $("assignments");
  const caption = $("assignments-caption");
  caption.textContent = `At ${formatPoint(point)} (${mapType} map):`;
  if (!rows.length) {
    list.replaceChildren(note("No region here."));
    return;
  }
  const best = [...rows].sort((a, b) => b["map value"] - a["map value"]);
  list.replaceChildren(
    ...best.map((row) => {
      const item = document.createElement("li");
      item.dataset.regionName = row.region;
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = row.region;
      button.addEventListener("click", () => onPick(row.region));
      const value = document.createElement("span");
      value.className = "detail";
      value.textContent =
        mapType === "statistical" ? ` probability ${row["map value"].toFixed(2)}` : " (label)";
      item.append(button, value);
      return item;
    }),
  );
}

export function clearAssignments() {
  $("assignments-caption").textContent = "Click a point on a slice to list the regions there.";
  $("assignments").replaceChildren();
}

/** The colour bar of a probability map: its scale from 0 to `top`; null hides it. */
export function showColourBar(gradient, top, regionName) {
  const bar = $("colourbar");
  bar.hidden = gradient === null;
  if (gradient === null) return;
  bar.querySelector(".scale").style.background = gradient;
  bar.querySelector(".low").textContent = "0";
  bar.querySelector(".high").textContent = top.toFixed(2);
  bar.querySelector(".caption").textContent = `Probability of ${regionName}`;
}

function note(text) {
  const item = document.createElement("li");
  item.className = "note";
  item.textContent = text;
  return item;
}
