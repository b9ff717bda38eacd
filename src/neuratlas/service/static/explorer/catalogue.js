// What can be shown: the atlases, their spaces and parcellations, and which parcellation
// has which kinds of map in which space. Pure (the lists come from the service's JSON),
// so that the choice of a valid combination is tested under node.

export class Catalogue {
  /** From /v3_0/atlases, /v3_0/spaces, /v3_0/parcellations items and /explorer/maps. */
  constructor({ atlases, spaces, parcellations, maps }) {
    const byId = (items) => new Map(items.map((item) => [item["@id"], item]));
    this.atlases = byId(atlases);
    this.spaces = byId(spaces);
    this.parcellations = byId(parcellations);
    this.maps = new Map(maps.map((m) => [key(m.parcellation, m.space), new Set(m.maptypes)]));
  }

  /** The kinds of map ("labelled", "statistical") of a parcellation in a space, or undefined. */
  mapTypes(parcellation, space) {
    return this.maps.get(key(parcellation, space));
  }

  /** A space whose template is a mesh only (drawn in 3D, not in slices). */
  isSurface(space) {
    const images = this.spaces.get(space)?.defaultImage ?? [];
    return images.length > 0 && images.every((volume) => volume.providesMesh && !volume.providesImage);
  }

  spacesOf(atlas) {
    return this.atlases.get(atlas).spaces.map((s) => s["@id"]).filter((id) => this.spaces.has(id));
  }

  parcellationsOf(atlas) {
    return this.atlases
      .get(atlas)
      .parcellations.map((p) => p["@id"])
      .filter((id) => this.parcellations.has(id));
  }

  /** The atlas's parcellations mapped in a space. */
  mappedIn(atlas, space) {
    return this.parcellationsOf(atlas).filter((p) => this.mapTypes(p, space));
  }

  /** The atlas's spaces in which a parcellation is mapped, volume spaces first. */
  spacesMapping(atlas, parcellation) {
    const spaces = this.spacesOf(atlas).filter((s) => this.mapTypes(parcellation, s));
    return [...spaces].sort((a, b) => this.isSurface(a) - this.isSurface(b));
  }

  /**
   * A valid {space, parcellation} of the atlas, as close to `wish` ({space, parcellation,
   * prefer}) as there is: when the parcellation has no map in the space, the one named by
   * `prefer` ("space", or by default "parcellation") stays and the other changes. With
   * neither, the volume space with the most parcellations and its first parcellation.
   * Returns null when the atlas has no map at all.
   */
  combination(atlas, wish) {
    let parcellation = this.parcellationsOf(atlas).includes(wish.parcellation) ? wish.parcellation : null;
    const mapped = (s) => this.mappedIn(atlas, s).length > 0;
    let space = this.spacesOf(atlas).includes(wish.space) && mapped(wish.space) ? wish.space : null;
    if (parcellation && space && !this.mapTypes(parcellation, space)) {
      if (wish.prefer === "space") parcellation = null;
      else space = null;
    }
    if (parcellation && !space) {
      space = this.spacesMapping(atlas, parcellation)[0] ?? null;
      if (!space) parcellation = null;
    }
    if (!space) {
      const count = (s) => this.mappedIn(atlas, s).length;
      const ranked = this.spacesOf(atlas)
        .filter(mapped)
        .sort((a, b) => this.isSurface(a) - this.isSurface(b) || count(b) - count(a));
      space = ranked[0] ?? null;
    }
    parcellation ??= space ? this.mappedIn(atlas, space)[0] : null;
    return space && parcellation ? { space, parcellation } : null;
  }

  /** The @id of an entry by @id, name or short name (a shared URL may hold any), or null. */
  lookup(kind, text) {
    const table = this[kind];
    if (!text) return null;
    if (table.has(text)) return text;
    const folded = text.toLowerCase();
    for (const [id, item] of table) {
      if (item.name.toLowerCase() === folded || item.shortName?.toLowerCase() === folded) return id;
    }
    return null;
  }
}

const key = (parcellation, space) => `${parcellation}\n${space}`;
