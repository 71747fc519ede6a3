/** Kubernetes resource quantities ("500Gi", "1.5T") as bytes. */

export const QUANTITY = /^([0-9]+(\.[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$/;
export const QUANTITY_HELP = 'a Kubernetes quantity such as "10Gi", "500Gi" or "2Ti"';

const MULTIPLIERS: Record<string, number> = {
  "": 1,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
};

export function quantityBytes(quantity: string): number {
  const match = QUANTITY.exec(quantity.trim());
  if (!match) throw new Error(`"${quantity}" is not ${QUANTITY_HELP}`);
  return Number(match[1]) * MULTIPLIERS[match[3] ?? ""];
}

export const TERABYTE = 1e12;

export function formatBytes(bytes: number): string {
  const units = ["B", "KB", "MB", "GB", "TB", "PB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${value >= 100 || unit === 0 ? value.toFixed(0) : value.toFixed(1)} ${units[unit]}`;
}
