// Paged results: Azure's PagedAsyncIterableIterator shape (iterate items, or byPage with maxPageSize and a
// continuationToken that is the service's nextLink) built from a "fetch one page" function.

/** Settings for {@link PagedAsyncIterableIterator.byPage}. */
export interface PageSettings {
  /** Resume from this token (the nextLink of a previous page). */
  continuationToken?: string;
  /** Maximum items per page; overrides the list options' maxPageSize. */
  maxPageSize?: number;
}

/** An async iterator of items that can also be consumed page by page (Azure's core-paging shape). */
export interface PagedAsyncIterableIterator<TElement, TPage = TElement[], TPageSettings extends object = PageSettings> {
  /** The next item. */
  next(): Promise<IteratorResult<TElement>>;
  /** This iterator. */
  [Symbol.asyncIterator](): PagedAsyncIterableIterator<TElement, TPage, TPageSettings>;
  /**
   * Iterates pages instead of items.
   * @param settings - Page size and continuation token.
   */
  byPage: (settings?: TPageSettings) => AsyncIterableIterator<TPage>;
}

/** One fetched page: its items and the token for the next page (absent on the last page). */
export interface FetchedPage<T> {
  /** The items (undefined stops iteration, like Azure's pager). */
  items: T[] | undefined;
  /** The next page's token, absent on the last page. */
  continuationToken?: string;
}

/**
 * Fetches one page: the first page when `continuationToken` is undefined, else the page it names.
 * `maxPageSize` only applies to the first request (a nextLink already carries it).
 */
export type PageFetcher<T> = (continuationToken: string | undefined, maxPageSize: number | undefined) => Promise<FetchedPage<T>>;

/**
 * Builds a PagedAsyncIterableIterator. Nothing is fetched until iteration starts. `byPage` writes the
 * next token back into the settings object, as Azure's pagers do.
 * @param fetchPage - Fetches one page.
 * @param defaultMaxPageSize - The list options' maxPageSize, if any.
 */
export function createPagedAsyncIterator<T>(
  fetchPage: PageFetcher<T>,
  defaultMaxPageSize?: number,
): PagedAsyncIterableIterator<T, T[], PageSettings> {
  async function* pages(settings: PageSettings = {}): AsyncIterableIterator<T[]> {
    if (!settings.continuationToken) {
      const page = await fetchPage(undefined, settings.maxPageSize ?? defaultMaxPageSize);
      settings.continuationToken = page.continuationToken;
      if (!page.items) return;
      yield page.items;
    }
    while (settings.continuationToken) {
      const page = await fetchPage(settings.continuationToken, undefined);
      settings.continuationToken = page.continuationToken;
      if (!page.items) return;
      yield page.items;
    }
  }
  async function* items(): AsyncIterableIterator<T> {
    for await (const page of pages()) yield* page;
  }
  const iterator = items();
  return {
    next: () => iterator.next(),
    [Symbol.asyncIterator]() {
      return this;
    },
    byPage: (settings?: PageSettings) => pages(settings ?? {}),
  };
}
