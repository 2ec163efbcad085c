// Jump to a message (a search hit): loads the page around it with the SDK's listMessagesAround, fills the gap
// up to the newest messages, scrolls the message into view and highlights it for a while.
import { useEffect, useLayoutEffect, useState } from "preact/hooks";
import type { RefObject } from "preact";
import type { ChatMessage, ChatThreadClient } from "@natter/communication-chat";
import { mergeMessages } from "./model";

/** Where to open a conversation; `nonce` makes a second click on the same hit jump again. */
export interface JumpTarget {
  messageId: string;
  nonce: number;
}

const AROUND_PAGE = 30;
const NEWER_PAGES = 5;
const HIGHLIGHT_MS = 8000;

interface Options {
  client: ChatThreadClient;
  target: JumpTarget | undefined;
  messages: ChatMessage[];
  setMessages: (update: (current: ChatMessage[]) => ChatMessage[]) => void;
  scroller: RefObject<HTMLDivElement | null>;
  /** The conversation's "stick to the bottom" flag: off while a jump is shown. */
  atBottom: { current: boolean };
  onError: (e: unknown) => void;
}

/**
 * Runs a jump whenever `target` changes. The highlight is a class on the message's element (`jump-highlight`,
 * with aria-current), set here so the message list itself needs no jump state.
 */
export function useJumpToMessage({ client, target, messages, setMessages, scroller, atBottom, onError }: Options): void {
  const [pending, setPending] = useState<string>();

  useEffect(() => {
    if (!target) return;
    let cancelled = false;
    atBottom.current = false;
    void (async () => {
      try {
        const around = await client.listMessagesAround(target.messageId, { maxPageSize: AROUND_PAGE });
        if (cancelled) return;
        setMessages((current) => mergeMessages(current, around.messages));
        setPending(target.messageId);
        // Messages between the hit and the newest page, so the conversation reads without a hole.
        let pages = 0;
        for await (const page of around.newer.byPage()) {
          if (cancelled || ++pages > NEWER_PAGES) break;
          setMessages((current) => mergeMessages(current, page));
        }
      } catch (e) {
        if (!cancelled) onError(e);
      }
    })();
    return () => {
      cancelled = true;
    };
  }, [client, target?.messageId, target?.nonce]);

  // Once the message is rendered: scroll it to the middle of the view and highlight it for a while.
  useLayoutEffect(() => {
    if (!pending) return;
    const el = scroller.current?.querySelector(`[data-message-id="${CSS.escape(pending)}"]`);
    if (!el) return;
    atBottom.current = false;
    el.scrollIntoView({ block: "center" });
    el.classList.add("jump-highlight");
    el.setAttribute("aria-current", "true");
    setPending(undefined);
    setTimeout(() => {
      el.classList.remove("jump-highlight");
      el.removeAttribute("aria-current");
    }, HIGHLIGHT_MS);
  }, [pending, messages]);
}
