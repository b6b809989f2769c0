/**
 * A modal dialog that really is modal: a native <dialog> opened with showModal(), so the page
 * behind it is inert (no clicks, no Tab, hidden from assistive technology) and Escape closes it.
 * Focus goes to the element marked autoFocus inside, and back to where it was on close.
 */
import { useEffect, useRef, type ReactNode } from 'react';

export interface ModalProps {
  /** id of the element that names the dialog. */
  labelledBy: string;
  describedBy?: string;
  /** alertdialog for a confirmation of something that cannot be undone. */
  role?: 'dialog' | 'alertdialog';
  /** Escape, or the dialog closed by the browser. */
  onCancel: () => void;
  children: ReactNode;
  testId?: string;
}

export function Modal({ labelledBy, describedBy, role = 'dialog', onCancel, children, testId }: ModalProps) {
  const ref = useRef<HTMLDialogElement>(null);
  const onCancelRef = useRef(onCancel);
  useEffect(() => {
    onCancelRef.current = onCancel;
  }, [onCancel]);

  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    const opener = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    if (!dialog.open) {
      if (typeof dialog.showModal === 'function') dialog.showModal();
      else dialog.setAttribute('open', '');
    }
    const autoFocus = dialog.querySelector<HTMLElement>('[data-autofocus]');
    autoFocus?.focus();
    const onCancelEvent = (event: Event) => {
      event.preventDefault();
      onCancelRef.current();
    };
    // Tab and Shift+Tab go round the dialog's controls; the browser would let focus leave it
    // for its own toolbar on the way round.
    const onKeyDown = (event: KeyboardEvent) => {
      if (event.key !== 'Tab') return;
      const controls = [...dialog.querySelectorAll<HTMLElement>('button, input, select, textarea, [tabindex]:not([tabindex="-1"])')].filter((e) => !e.hasAttribute('disabled'));
      const first = controls[0];
      const last = controls[controls.length - 1];
      if (!first || !last) return;
      if (event.shiftKey && document.activeElement === first) {
        event.preventDefault();
        last.focus();
      } else if (!event.shiftKey && document.activeElement === last) {
        event.preventDefault();
        first.focus();
      }
    };
    dialog.addEventListener('cancel', onCancelEvent);
    dialog.addEventListener('keydown', onKeyDown);
    return () => {
      dialog.removeEventListener('cancel', onCancelEvent);
      dialog.removeEventListener('keydown', onKeyDown);
      if (dialog.open && typeof dialog.close === 'function') dialog.close();
      // Back to the control that opened it, when it is still there and not inert.
      if (opener && opener.isConnected && !opener.closest('[inert]')) opener.focus();
    };
  }, []);

  return (
    <dialog ref={ref} className="modal" role={role === 'alertdialog' ? 'alertdialog' : undefined} aria-labelledby={labelledBy} aria-describedby={describedBy} data-testid={testId}>
      {children}
    </dialog>
  );
}
