/**
 * Reference data of the synthetic catalog: real makes and model names with their body style,
 * fuel type, approximate new price (USD MSRP) and a popularity weight; trims; stores.
 */
export type BodyStyle = 'Sedan' | 'SUV' | 'Pickup' | 'Hatchback' | 'Coupe' | 'Convertible' | 'Minivan' | 'Wagon';
export type FuelType = 'gasoline' | 'hybrid' | 'electric' | 'diesel' | 'plug-in hybrid';

export interface ModelSpec {
  model: string;
  bodyStyle: BodyStyle;
  /** New price of the base trim, USD. */
  msrp: number;
  fuelType: FuelType;
  /** Relative share of listings and of interest. */
  popularity: number;
  /** Share of listings that are hybrid versions (gasoline models with a hybrid option). */
  hybridShare?: number;
}

export interface MakeSpec {
  make: string;
  trims: readonly string[];
  models: readonly ModelSpec[];
}

const m = (model: string, bodyStyle: BodyStyle, msrp: number, popularity: number, fuelType: FuelType = 'gasoline', hybridShare = 0): ModelSpec => ({
  model,
  bodyStyle,
  msrp,
  fuelType,
  popularity,
  ...(hybridShare > 0 ? { hybridShare } : {}),
});

export const MAKES: readonly MakeSpec[] = [
  {
    make: 'Toyota',
    trims: ['L', 'LE', 'SE', 'XLE', 'XSE', 'Limited'],
    models: [m('Corolla', 'Sedan', 22_500, 9, 'gasoline', 0.2), m('Camry', 'Sedan', 27_500, 10, 'gasoline', 0.25), m('RAV4', 'SUV', 30_000, 12, 'gasoline', 0.35), m('Highlander', 'SUV', 40_000, 6, 'gasoline', 0.2), m('Tacoma', 'Pickup', 33_000, 7), m('Tundra', 'Pickup', 42_000, 4), m('Prius', 'Hatchback', 28_500, 4, 'hybrid'), m('Sienna', 'Minivan', 39_000, 3, 'hybrid'), m('4Runner', 'SUV', 42_000, 4)],
  },
  {
    make: 'Honda',
    trims: ['LX', 'Sport', 'EX', 'EX-L', 'Touring'],
    models: [m('Civic', 'Sedan', 24_500, 10), m('Accord', 'Sedan', 28_500, 8, 'gasoline', 0.3), m('CR-V', 'SUV', 31_000, 11, 'gasoline', 0.3), m('HR-V', 'SUV', 25_000, 5), m('Pilot', 'SUV', 40_000, 5), m('Odyssey', 'Minivan', 39_000, 3), m('Ridgeline', 'Pickup', 40_000, 2), m('Civic Hatchback', 'Hatchback', 26_000, 3)],
  },
  {
    make: 'Ford',
    trims: ['XL', 'XLT', 'Lariat', 'Platinum', 'Limited'],
    models: [m('F-150', 'Pickup', 38_000, 14), m('Maverick', 'Pickup', 25_000, 5, 'hybrid'), m('Ranger', 'Pickup', 33_000, 4), m('Escape', 'SUV', 29_000, 6), m('Explorer', 'SUV', 40_000, 6), m('Bronco', 'SUV', 40_000, 4), m('Bronco Sport', 'SUV', 31_000, 4), m('Mustang', 'Coupe', 32_000, 4), m('Mustang Mach-E', 'SUV', 43_000, 3, 'electric'), m('Expedition', 'SUV', 58_000, 2)],
  },
  {
    make: 'Chevrolet',
    trims: ['LS', 'LT', 'RS', 'Premier', 'High Country'],
    models: [m('Silverado 1500', 'Pickup', 39_000, 12), m('Colorado', 'Pickup', 31_000, 3), m('Equinox', 'SUV', 28_000, 7), m('Traverse', 'SUV', 38_000, 4), m('Tahoe', 'SUV', 58_000, 4), m('Malibu', 'Sedan', 25_000, 4), m('Camaro', 'Coupe', 30_000, 2), m('Corvette', 'Coupe', 68_000, 1), m('Bolt EV', 'Hatchback', 27_000, 2, 'electric'), m('Trax', 'SUV', 21_500, 4)],
  },
  {
    make: 'Nissan',
    trims: ['S', 'SV', 'SR', 'SL', 'Platinum'],
    models: [m('Altima', 'Sedan', 26_500, 6), m('Sentra', 'Sedan', 21_000, 6), m('Rogue', 'SUV', 29_000, 8), m('Pathfinder', 'SUV', 37_000, 3), m('Frontier', 'Pickup', 31_000, 3), m('Kicks', 'SUV', 21_500, 3), m('Leaf', 'Hatchback', 29_000, 2, 'electric'), m('Murano', 'SUV', 37_500, 2)],
  },
  {
    make: 'Hyundai',
    trims: ['SE', 'SEL', 'N Line', 'Limited', 'Calligraphy'],
    models: [m('Elantra', 'Sedan', 22_000, 6, 'gasoline', 0.2), m('Sonata', 'Sedan', 27_500, 4, 'gasoline', 0.2), m('Tucson', 'SUV', 29_000, 7, 'gasoline', 0.3), m('Santa Fe', 'SUV', 34_000, 4, 'gasoline', 0.25), m('Kona', 'SUV', 24_500, 4), m('Palisade', 'SUV', 38_000, 3), m('Ioniq 5', 'SUV', 43_000, 3, 'electric'), m('Santa Cruz', 'Pickup', 28_000, 2)],
  },
  {
    make: 'Kia',
    trims: ['LX', 'S', 'EX', 'GT-Line', 'SX'],
    models: [m('Forte', 'Sedan', 20_500, 4), m('K5', 'Sedan', 27_000, 3), m('Sportage', 'SUV', 28_000, 6, 'gasoline', 0.3), m('Sorento', 'SUV', 32_000, 4, 'gasoline', 0.25), m('Telluride', 'SUV', 37_500, 5), m('Seltos', 'SUV', 25_000, 3), m('Carnival', 'Minivan', 35_000, 2), m('EV6', 'SUV', 44_000, 2, 'electric'), m('Soul', 'Hatchback', 21_000, 3)],
  },
  {
    make: 'Subaru',
    trims: ['Base', 'Premium', 'Sport', 'Limited', 'Touring', 'Wilderness'],
    models: [m('Outback', 'Wagon', 30_000, 7), m('Forester', 'SUV', 29_000, 7), m('Crosstrek', 'SUV', 26_000, 6), m('Impreza', 'Hatchback', 23_000, 3), m('Ascent', 'SUV', 36_000, 3), m('WRX', 'Sedan', 33_000, 2), m('BRZ', 'Coupe', 30_000, 1)],
  },
  {
    make: 'Mazda',
    trims: ['Select', 'Preferred', 'Carbon Edition', 'Premium', 'Turbo'],
    models: [m('Mazda3', 'Sedan', 23_500, 4), m('CX-5', 'SUV', 29_000, 7), m('CX-30', 'SUV', 25_000, 4), m('CX-50', 'SUV', 31_000, 3), m('CX-90', 'SUV', 40_000, 2, 'gasoline', 0.2), m('MX-5 Miata', 'Convertible', 29_500, 2)],
  },
  {
    make: 'Volkswagen',
    trims: ['S', 'SE', 'SEL', 'R-Line', 'GTI Autobahn'],
    models: [m('Jetta', 'Sedan', 22_500, 4), m('Golf GTI', 'Hatchback', 32_000, 3), m('Tiguan', 'SUV', 29_000, 5), m('Atlas', 'SUV', 38_000, 3), m('Taos', 'SUV', 25_000, 3), m('ID.4', 'SUV', 41_000, 2, 'electric')],
  },
  {
    make: 'BMW',
    trims: ['sDrive', 'xDrive', 'M Sport', 'Competition'],
    models: [m('3 Series', 'Sedan', 46_000, 5), m('5 Series', 'Sedan', 58_000, 3), m('X3', 'SUV', 49_000, 5), m('X5', 'SUV', 66_000, 4, 'gasoline', 0.15), m('X1', 'SUV', 41_000, 3), m('4 Series', 'Coupe', 50_000, 2), m('i4', 'Sedan', 53_000, 2, 'electric'), m('M4', 'Coupe', 78_000, 1)],
  },
  {
    make: 'Mercedes-Benz',
    trims: ['Base', '4MATIC', 'AMG Line', 'AMG'],
    models: [m('C-Class', 'Sedan', 47_000, 5), m('E-Class', 'Sedan', 60_000, 3), m('GLC', 'SUV', 50_000, 5), m('GLE', 'SUV', 62_000, 3), m('GLA', 'SUV', 42_000, 2), m('S-Class', 'Sedan', 115_000, 1), m('EQE', 'Sedan', 76_000, 1, 'electric'), m('Sprinter', 'Minivan', 55_000, 1, 'diesel')],
  },
  {
    make: 'Audi',
    trims: ['Premium', 'Premium Plus', 'Prestige', 'S line'],
    models: [m('A4', 'Sedan', 43_000, 3), m('A6', 'Sedan', 57_000, 2), m('Q3', 'SUV', 39_000, 2), m('Q5', 'SUV', 46_000, 4, 'gasoline', 0.15), m('Q7', 'SUV', 60_000, 2), m('e-tron GT', 'Sedan', 106_000, 1, 'electric'), m('A5 Sportback', 'Hatchback', 48_000, 1)],
  },
  {
    make: 'Lexus',
    trims: ['Base', 'Premium', 'Luxury', 'F Sport'],
    models: [m('RX', 'SUV', 50_000, 5, 'gasoline', 0.35), m('NX', 'SUV', 42_000, 4, 'gasoline', 0.35), m('ES', 'Sedan', 43_000, 3, 'gasoline', 0.3), m('IS', 'Sedan', 41_000, 2), m('GX', 'SUV', 65_000, 2), m('UX', 'SUV', 37_000, 1, 'hybrid')],
  },
  {
    make: 'Tesla',
    trims: ['Standard Range', 'Long Range', 'Performance'],
    models: [m('Model 3', 'Sedan', 40_000, 7, 'electric'), m('Model Y', 'SUV', 45_000, 9, 'electric'), m('Model S', 'Sedan', 75_000, 2, 'electric'), m('Model X', 'SUV', 80_000, 1, 'electric')],
  },
  {
    make: 'Jeep',
    trims: ['Sport', 'Latitude', 'Altitude', 'Limited', 'Rubicon', 'Trailhawk'],
    models: [m('Wrangler', 'SUV', 33_000, 7, 'gasoline', 0.1), m('Grand Cherokee', 'SUV', 40_000, 7, 'gasoline', 0.1), m('Cherokee', 'SUV', 29_000, 3), m('Compass', 'SUV', 27_000, 4), m('Gladiator', 'Pickup', 39_000, 2)],
  },
  {
    make: 'Ram',
    trims: ['Tradesman', 'Big Horn', 'Laramie', 'Rebel', 'Limited'],
    models: [m('1500', 'Pickup', 40_000, 10), m('2500', 'Pickup', 47_000, 3, 'diesel'), m('ProMaster', 'Minivan', 45_000, 1)],
  },
  {
    make: 'GMC',
    trims: ['SLE', 'Elevation', 'SLT', 'AT4', 'Denali'],
    models: [m('Sierra 1500', 'Pickup', 40_000, 6), m('Yukon', 'SUV', 60_000, 3), m('Acadia', 'SUV', 40_000, 3), m('Terrain', 'SUV', 30_000, 3), m('Canyon', 'Pickup', 37_000, 2)],
  },
  {
    make: 'Dodge',
    trims: ['SXT', 'GT', 'R/T', 'Scat Pack'],
    models: [m('Charger', 'Sedan', 35_000, 3), m('Challenger', 'Coupe', 33_000, 3), m('Durango', 'SUV', 40_000, 3), m('Hornet', 'SUV', 31_000, 1)],
  },
  {
    make: 'Volvo',
    trims: ['Core', 'Plus', 'Ultimate', 'R-Design'],
    models: [m('XC60', 'SUV', 46_000, 3, 'gasoline', 0.2), m('XC90', 'SUV', 58_000, 2, 'gasoline', 0.2), m('XC40', 'SUV', 39_000, 2), m('S60', 'Sedan', 43_000, 1), m('V60 Cross Country', 'Wagon', 50_000, 1)],
  },
  {
    make: 'Acura',
    trims: ['Base', 'Technology', 'A-Spec', 'Advance'],
    models: [m('MDX', 'SUV', 50_000, 3), m('RDX', 'SUV', 44_000, 3), m('TLX', 'Sedan', 44_000, 2), m('Integra', 'Hatchback', 32_000, 2)],
  },
  {
    make: 'Porsche',
    trims: ['Base', 'S', 'GTS', 'Turbo'],
    models: [m('911', 'Coupe', 115_000, 1), m('Cayenne', 'SUV', 82_000, 1), m('Macan', 'SUV', 62_000, 1), m('Taycan', 'Sedan', 92_000, 1, 'electric')],
  },
  {
    make: 'Land Rover',
    trims: ['S', 'SE', 'HSE', 'Autobiography'],
    models: [m('Range Rover Sport', 'SUV', 84_000, 1), m('Defender', 'SUV', 57_000, 1), m('Discovery Sport', 'SUV', 50_000, 1)],
  },
  {
    make: 'Cadillac',
    trims: ['Luxury', 'Premium Luxury', 'Sport', 'Platinum'],
    models: [m('Escalade', 'SUV', 85_000, 2), m('XT5', 'SUV', 45_000, 2), m('XT4', 'SUV', 38_000, 1), m('CT5', 'Sedan', 40_000, 1), m('Lyriq', 'SUV', 60_000, 1, 'electric')],
  },
  {
    make: 'Buick',
    trims: ['Preferred', 'Sport Touring', 'Essence', 'Avenir'],
    models: [m('Enclave', 'SUV', 45_000, 2), m('Encore GX', 'SUV', 26_000, 3), m('Envision', 'SUV', 35_000, 1)],
  },
  {
    make: 'Mitsubishi',
    trims: ['ES', 'SE', 'SEL', 'GT'],
    models: [m('Outlander', 'SUV', 29_000, 2, 'gasoline', 0.15), m('Eclipse Cross', 'SUV', 27_000, 1), m('Mirage', 'Hatchback', 17_000, 2)],
  },
  {
    make: 'Chrysler',
    trims: ['Touring', 'Touring L', 'Limited', 'Pinnacle'],
    models: [m('Pacifica', 'Minivan', 40_000, 2, 'gasoline', 0.2), m('300', 'Sedan', 35_000, 1)],
  },
  {
    make: 'MINI',
    trims: ['Classic', 'Signature', 'Iconic', 'John Cooper Works'],
    models: [m('Cooper', 'Hatchback', 26_000, 2), m('Countryman', 'SUV', 32_000, 1), m('Cooper Convertible', 'Convertible', 32_000, 1)],
  },
];

export const BODY_STYLES: readonly BodyStyle[] = ['Sedan', 'SUV', 'Pickup', 'Hatchback', 'Coupe', 'Convertible', 'Minivan', 'Wagon'];

/** Dealer locations (US). Weights: relative stock and customer share. */
export const STORES: readonly { storeId: string; city: string; weight: number }[] = [
  { storeId: 'store-atl-01', city: 'Atlanta, GA', weight: 6 },
  { storeId: 'store-aus-01', city: 'Austin, TX', weight: 5 },
  { storeId: 'store-bos-01', city: 'Boston, MA', weight: 4 },
  { storeId: 'store-chi-01', city: 'Chicago, IL', weight: 7 },
  { storeId: 'store-clt-01', city: 'Charlotte, NC', weight: 4 },
  { storeId: 'store-cmh-01', city: 'Columbus, OH', weight: 3 },
  { storeId: 'store-dal-01', city: 'Dallas, TX', weight: 7 },
  { storeId: 'store-den-01', city: 'Denver, CO', weight: 4 },
  { storeId: 'store-det-01', city: 'Detroit, MI', weight: 3 },
  { storeId: 'store-hou-01', city: 'Houston, TX', weight: 7 },
  { storeId: 'store-ind-01', city: 'Indianapolis, IN', weight: 3 },
  { storeId: 'store-jax-01', city: 'Jacksonville, FL', weight: 3 },
  { storeId: 'store-las-01', city: 'Las Vegas, NV', weight: 3 },
  { storeId: 'store-lax-01', city: 'Los Angeles, CA', weight: 8 },
  { storeId: 'store-mia-01', city: 'Miami, FL', weight: 5 },
  { storeId: 'store-msp-01', city: 'Minneapolis, MN', weight: 3 },
  { storeId: 'store-nas-01', city: 'Nashville, TN', weight: 3 },
  { storeId: 'store-nyc-01', city: 'Newark, NJ', weight: 6 },
  { storeId: 'store-orl-01', city: 'Orlando, FL', weight: 4 },
  { storeId: 'store-phl-01', city: 'Philadelphia, PA', weight: 4 },
  { storeId: 'store-phx-01', city: 'Phoenix, AZ', weight: 5 },
  { storeId: 'store-pdx-01', city: 'Portland, OR', weight: 3 },
  { storeId: 'store-ral-01', city: 'Raleigh, NC', weight: 3 },
  { storeId: 'store-sac-01', city: 'Sacramento, CA', weight: 3 },
  { storeId: 'store-san-01', city: 'San Diego, CA', weight: 4 },
  { storeId: 'store-sea-01', city: 'Seattle, WA', weight: 4 },
  { storeId: 'store-sfo-01', city: 'San Jose, CA', weight: 4 },
  { storeId: 'store-stl-01', city: 'St. Louis, MO', weight: 3 },
  { storeId: 'store-tpa-01', city: 'Tampa, FL', weight: 4 },
  { storeId: 'store-dc-01', city: 'Washington, DC', weight: 5 },
];
