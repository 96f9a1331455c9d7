/**
 * The paths that hide what lower layers hold (whiteouts, replaced files, opaque folders),
 * kept as a tree of their components: asking whether a path is hidden is one walk down
 * it, so the cost grows with the path's length, not with its length squared.
 */
interface Node {
  /** The path itself is hidden, and all under it. */
  blocked: boolean;
  /** What lower layers put under it is hidden; the folder itself is not. */
  opaque: boolean;
  children?: Map<string, Node>;
}

export class PathTree {
  private readonly root: Node = { blocked: false, opaque: false };

  private node(path: string): Node {
    let node = this.root;
    for (const part of path.split("/")) {
      node.children ??= new Map();
      let next = node.children.get(part);
      if (!next) {
        next = { blocked: false, opaque: false };
        node.children.set(part, next);
      }
      node = next;
    }
    return node;
  }

  block(path: string): void {
    this.node(path).blocked = true;
  }

  makeOpaque(path: string): void {
    this.node(path).opaque = true;
  }

  /** Whether `path` (never "") is hidden: blocked itself, or under a blocked or opaque folder. */
  hides(path: string): boolean {
    let node: Node | undefined = this.root;
    let from = 0;
    for (;;) {
      const slash = path.indexOf("/", from);
      node = node.children?.get(slash < 0 ? path.slice(from) : path.slice(from, slash));
      if (!node) return false;
      if (node.blocked) return true;
      if (slash < 0) return false;
      if (node.opaque) return true;
      from = slash + 1;
    }
  }
}
