// What the staff conversation page shows of an invitation to book: what was offered (type, dates,
// clinicians), the live booking with Cancel and Move, and every earlier booking with who ended it and why.
import type { ItemKind } from '../conversations/item-kinds.ts';
import type { BookingDetails } from './booking.service.ts';
import { whenInWords } from './booking.service.ts';
import type { BookingPayload } from './booking.kind.ts';
import { calendarDateInWords } from './booking-times.ts';
import { conversationBookingStory } from './staff-booking.service.ts';

const VIEW = 'booking/views/staff-booking-panel.njk';

function statusOf(details: BookingDetails): string {
  const { booking } = details;
  if (!booking.cancelledAt) return 'Booked';
  if (booking.cancelledBy === 'changed') return 'Changed to another time';
  return booking.cancelledBy === 'staff' ? 'Cancelled by staff' : 'Cancelled by the patient';
}

export const bookingStaffPanel: NonNullable<ItemKind<BookingPayload>['staffPanel']> = async (services, at) => {
  const { conversation } = at;
  const story = await conversationBookingStory(services, conversation.organisationId, conversation.id);
  const staffName = (id: string | null) => (id ? (story.staffNames.get(id) ?? 'staff') : undefined);
  const chosen = story.clinicians.filter((c) => conversation.payload.clinicianIds.includes(c.id)).map((c) => c.name);
  const live = story.bookings.find((b) => !b.booking.cancelledAt);
  return {
    view: VIEW,
    data: {
      typeName: conversation.payload.typeName,
      window: `${calendarDateInWords(conversation.payload.earliest)} ${conversation.payload.earliest.slice(0, 4)} to ${calendarDateInWords(conversation.payload.latest)} ${conversation.payload.latest.slice(0, 4)}`,
      clinicians: chosen.length > 0 ? chosen.join(', ') : 'Any clinician',
      live: live && {
        id: live.booking.id,
        when: whenInWords(live.booking.startsAt),
        where: `${live.location.name}, ${live.location.address}`,
        with: `${live.slot.clinicianName} (${live.slot.clinicianRole})`,
      },
      history: story.bookings.map((b) => ({
        when: whenInWords(b.booking.startsAt),
        status: statusOf(b),
        bookedBy: b.booking.bookedBy === 'staff' ? `Staff (${staffName(b.booking.bookedByStaffId)})` : 'The patient',
        bookedAt: b.booking.bookedAt,
        endedBy: !b.booking.cancelledAt ? '' : b.booking.cancelledByStaffId ? `Staff (${staffName(b.booking.cancelledByStaffId)})` : 'The patient',
        endedAt: b.booking.cancelledAt,
        reason: b.booking.cancelReason ?? '',
      })),
    },
  };
};
