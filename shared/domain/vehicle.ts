/** A vehicle of the catalog (lake `vehicles/date=YYYY-MM-DD/vehicles.parquet`). Prices in USD. */
export interface Vehicle {
  vehicleId: string;
  make: string;
  model: string;
  trim?: string;
  year: number;
  bodyStyle: string;
  fuelType?: string;
  price: number;
  mileage?: number;
  storeId?: string;
  storeCity?: string;
  /** ISO-8601 UTC. */
  listedAt?: string;
  /** ISO-8601 UTC; absent while for sale. */
  soldAt?: string;
}

/** "2021 Toyota RAV4 XLE": how a vehicle is named to people. */
export function vehicleTitle(v: Pick<Vehicle, 'year' | 'make' | 'model' | 'trim'>): string {
  return [v.year, v.make, v.model, v.trim].filter((p) => p !== undefined && p !== '').join(' ');
}
